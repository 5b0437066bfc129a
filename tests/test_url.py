"""Scripts from a URL (launching/fetch.py, issue 29): ``uvlaunch URL [ARGS]``.

Every URL is served by an http.server on 127.0.0.1 that the test starts in a thread;
nothing leaves the machine. uv itself stays offline except where a test fetches: the
scripts have no dependencies, so uv has nothing to download either way.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Sandbox, assert_one_line_error, make_script

from uvlaunch.launching.piped import MAX_BYTES

BODY = "import json, sys\nprint(json.dumps({'argv': sys.argv[1:], 'version': VERSION}))\n"


class Server:
    """A local web server: ``files`` maps a path to the bytes it serves."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.release = threading.Event()  # ends the requests that never answer
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/never":
                    server.release.wait(60)
                    return
                if self.path == "/huge":  # no Content-Length: read until the limit
                    self.send_response(200)
                    self.end_headers()
                    line = b"#" * 1023 + b"\n"
                    try:
                        for _ in range(MAX_BYTES // len(line) + 2):
                            self.wfile.write(line)
                    except OSError:
                        pass  # the client stopped reading at the limit
                    return
                if self.path == "/down":
                    self.send_error(503)
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        if s.thread.is_alive():
            s.stop()


@pytest.fixture
def online(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox's environment, less UV_OFFLINE (which also keeps uvlaunch from fetching)."""
    env = dict(sandbox.env)
    del env["UV_OFFLINE"]
    return env


def script(version: int) -> bytes:
    return make_script(deps=(), body=f"VERSION = {version}\n{BODY}").encode()


def ran(proc: object) -> dict[str, object]:
    assert proc.returncode == 0, (proc.stdout, proc.stderr)  # type: ignore[attr-defined]
    return dict(json.loads(proc.stdout.splitlines()[-1]))  # type: ignore[attr-defined]


@pytest.mark.usefixtures("launcher")
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "through-uv"])
def test_a_script_from_a_url_runs_and_runs_offline_once_fetched(
    sandbox: Sandbox, server: Server, online: dict[str, str], fast: bool
) -> None:
    options = [] if fast else ["--no-fast-path"]
    server.files["/tool.py"] = script(1)
    url = server.url("/tool.py")
    first = sandbox.run(*options, url, "a", "b c", env=online)
    assert ran(first) == {"argv": ["a", "b c"], "version": 1}
    (entry,) = json.loads(sandbox.run("list", "--json").stdout)
    assert entry["state"] == "piped"
    # Fetched on every launch, as `uv run URL` does; the same block, the same environment.
    server.files["/tool.py"] = script(2)
    proc = sandbox.run(*options, url, env=online)
    assert ran(proc)["version"] == 2 and proc.stderr == ""
    assert [e["name"] for e in json.loads(sandbox.run("list", "--json").stdout)] == [entry["name"]]
    # The server gone: the copy fetched last runs, and the one line says why.
    server.stop()
    proc = sandbox.run(*options, url, "x", env=online)
    assert ran(proc) == {"argv": ["x"], "version": 2}
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"uvlaunch: {url}: cannot fetch the script (") and "copy" in line
    # Offline on purpose: no attempt, nothing to say.
    proc = sandbox.run(*options, url)
    assert ran(proc)["version"] == 2 and proc.stderr == ""
    # remove --all leaves no copy behind.
    assert sandbox.run("remove", "--all").returncode == 0
    assert list((sandbox.home / "piped").iterdir()) == []


def test_a_url_that_gives_no_script_is_one_line(
    sandbox: Sandbox, server: Server, online: dict[str, str]
) -> None:
    missing = server.url("/missing.py")
    assert_one_line_error(sandbox.run(missing, env=online), missing, "404")
    down = server.url("/down")
    assert_one_line_error(sandbox.run(down, env=online), down, "cannot fetch", "503")
    huge = server.url("/huge")
    assert_one_line_error(sandbox.run(huge, env=online), huge, "larger than 64 MiB")
    never = server.url("/never")
    slow = dict(online, UVLAUNCH_FETCH_TIMEOUT="1")
    assert_one_line_error(sandbox.run(never, env=slow), never, "no answer within 1 s")
    assert_one_line_error(sandbox.run(missing), missing, "offline", "never fetched")
    port = server.httpd.server_address[1]
    server.stop()
    gone = f"http://127.0.0.1:{port}/tool.py"
    assert_one_line_error(sandbox.run(gone, env=online), gone, "cannot fetch", "refused")
    assert sandbox.env_dirs() == []


def test_install_refuses_a_url(sandbox: Sandbox, server: Server, online: dict[str, str]) -> None:
    server.files["/tool.py"] = script(1)
    url = server.url("/tool.py")
    sandbox.env["UVLAUNCH_BIN_DIR"] = str(sandbox.root / "bin")
    assert_one_line_error(sandbox.run("install", url), url, "save it first", "curl")
    assert not Path(sandbox.root / "bin").exists() and sandbox.env_dirs() == []


def test_gc_deletes_a_copy_unused_for_30_days(
    sandbox: Sandbox, server: Server, online: dict[str, str]
) -> None:
    server.files["/tool.py"] = script(1)
    ran(sandbox.run(server.url("/tool.py"), env=online))
    (copy,) = (sandbox.home / "piped").glob("url-*.py")
    assert sandbox.run("gc").returncode == 0 and copy.exists()
    old = time.time() - 31 * 86400
    os.utime(copy, (old, old))
    assert sandbox.run("gc").returncode == 0 and not copy.exists()


def test_a_pipe_larger_than_the_limit_is_one_line(sandbox: Sandbox) -> None:
    big = "#" * 1023 + "\n"
    proc = sandbox.run("-", input=big * (MAX_BYTES // len(big) + 1))
    assert_one_line_error(proc, "<stdin>", "more than 64 MiB")
