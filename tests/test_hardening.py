"""Hardening (issue 13): gc, remove and kills never lose a live environment or run a
script on the wrong one. Each test first sets up what reproduced the failure.

Offline throughout, except test 1, whose index is a server on loopback that holds its
wheel downloads until the test lets them go.
"""

from __future__ import annotations

import errno
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    UVLAUNCH,
    Sandbox,
    assert_one_line_error,
    build_wheel,
    compiled,
    current_generation,
    in_background,
    installed,
    report,
    settle,
)
from filelock import FileLock

QUIET = "print('ran')"


def names(sandbox: Sandbox) -> dict[str, str]:
    """Environment names by recorded script path, from `list --json`."""
    proc = sandbox.run("list", "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return {str(e["script"]): str(e["name"]) for e in json.loads(proc.stdout)}


def states(sandbox: Sandbox) -> dict[str, str]:
    proc = sandbox.run("list", "--json")
    return {str(e["name"]): str(e["state"]) for e in json.loads(proc.stdout)}


# -- 1. uv never outlives the uvlaunch that started it -------------------------------


class SlowIndex:
    """A PEP 503 index on loopback whose wheel downloads wait for ``release``."""

    def __init__(self, wheels: Path) -> None:
        self.release = threading.Event()
        self.downloading = threading.Event()
        self.held = 0  # wheel downloads held back or being sent now
        self.counting = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                # No Accept-Ranges: uv then fetches the whole wheel (a GET, held back).
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                if parts[0] == "simple" and len(parts) == 2:
                    project = parts[1]
                    links = "".join(
                        f'<a href="/files/{w.name}">{w.name}</a>'
                        for w in wheels.glob(f"{project}-*.whl")
                    )
                    body = f"<html><body>{links}</body></html>".encode()
                    self._send(body, "text/html")
                elif parts[0] == "files" and len(parts) == 2:
                    with outer.counting:
                        outer.held += 1
                    outer.downloading.set()
                    try:
                        outer.release.wait(60)
                        self._send((wheels / parts[1]).read_bytes(), "application/octet-stream")
                    finally:
                        with outer.counting:
                            outer.held -= 1
                else:
                    self.send_error(404)

            def _send(self, body: bytes, kind: str) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client (a killed uv) went away

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_index(sandbox: Sandbox) -> Iterator[SlowIndex]:
    wheels = sandbox.root / "index-wheels"
    wheels.mkdir()
    build_wheel(wheels, "slowpkg", "1.0")
    index = SlowIndex(wheels)
    yield index
    index.close()


def uv_children(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(k) for k in kids if os.path.basename(os.readlink(f"/proc/{k}/exe")) == "uv"]


def sandbox_uvs(sandbox: Sandbox) -> list[int]:
    """The uv processes alive now that use this sandbox's cache."""
    mark = os.fsencode(f"UV_CACHE_DIR={sandbox.cache}")
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                exe = os.readlink(f"/proc/{entry}/exe")
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            except OSError:
                continue  # gone, or a zombie
            if os.path.basename(exe) == "uv" and mark in environ and alive(int(entry)):
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_uv_dies_with_a_killed_uvlaunch(
    sandbox: Sandbox, slow_index: SlowIndex, sig: signal.Signals
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    script = sandbox.script(deps=("alpha",), body=QUIET)
    assert sandbox.run(str(script)).returncode == 0
    online = {k: v for k, v in sandbox.env.items() if k != "UV_OFFLINE"}
    online["UV_INDEX_URL"] = slow_index.url
    script.write_text(script.read_text().replace('["alpha"]', '["alpha", "slowpkg"]'))
    proc = subprocess.Popen(
        [UVLAUNCH, str(script)], env=online, cwd=sandbox.scripts, stderr=subprocess.PIPE
    )
    assert slow_index.downloading.wait(60), "uv never asked for the wheel"
    uvs = uv_children(proc.pid)
    assert uvs, "no uv child"
    os.kill(proc.pid, sig)  # uvlaunch alone, not its group
    proc.wait(30)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in uvs) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(alive(p) for p in uvs), "uv outlived the uvlaunch that started it"

    # A later launch, for another block, builds and stamps the environment ...
    script.write_text(script.read_text().replace('["alpha", "slowpkg"]', '["beta"]'))
    proc2 = sandbox.run(str(script))
    assert proc2.returncode == 0, proc2.stderr
    # ... and nothing from the earlier attempt lands in it afterwards: once the download
    # held back has been sent (or refused) and no uv of this sandbox runs, none can.
    slow_index.release.set()
    deadline = time.monotonic() + 30
    while (slow_index.held or sandbox_uvs(sandbox)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slow_index.held == 0, "the held download was never sent"
    assert sandbox_uvs(sandbox) == [], "a uv of the killed launch still runs"
    env = sandbox.envs()[0]
    assert installed(env) == {"beta"}
    assert sandbox.run(str(script)).returncode == 0


# -- 2. removal never pulls an environment from under a script ------------------------

WAITS_THEN_IMPORTS = """\
import sys
print("waiting", flush=True)
sys.stdin.readline()
import alpha
print("imported", alpha.VERSION, sys.prefix != sys.base_prefix)
"""


@pytest.mark.parametrize("how", ["warm", "slow"])
def test_gc_and_remove_leave_a_running_script_alone(sandbox: Sandbox, how: str) -> None:
    script = sandbox.script(deps=("alpha",), body=WAITS_THEN_IMPORTS)
    first = sandbox.run(str(script), input="\n")
    assert first.returncode == 0 and first.stdout.endswith(" True\n"), first.stderr
    name = names(sandbox)[str(script)]
    args = [UVLAUNCH, str(script)] if how == "warm" else [UVLAUNCH, "--no-fast-path", str(script)]
    # Once it says "waiting", it has started, and holds its generation's use lock.
    with in_background(args, env=sandbox.env, ready="waiting") as running:
        proc = sandbox.run("gc", "--unused-for", "0s")
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert f"skipped {name}: a running script is using it" in proc.stdout
        # remove removes it at once, but not the generation the script runs in: it says so.
        proc = sandbox.run("remove", str(script))
        assert proc.returncode == 0, proc.stderr
        assert f"kept {name} g1 for now: a running script is using it" in proc.stderr
        out, _ = running.finish("\n")  # its import comes after both
        assert running.returncode == 0 and "waiting\n" + out == first.stdout
    # Once it exited, gc deletes that generation; the lock files went with the environment.
    assert sandbox.run("gc").returncode == 0
    assert sandbox.env_dirs() == []
    assert sorted(p.name for p in (sandbox.home / "locks").iterdir()) == ["index.lock"]


def test_launches_racing_gc_unused_never_run_outside_their_environment(
    sandbox: Sandbox,
) -> None:
    script = sandbox.script(deps=("alpha",))
    report(sandbox.run(str(script)))
    stop = threading.Event()
    gcs: list[subprocess.CompletedProcess[str]] = []

    def gc_loop() -> None:
        while not stop.is_set():
            gcs.append(sandbox.run("gc", "--unused-for", "0s"))

    thread = threading.Thread(target=gc_loop)
    thread.start()
    try:
        for _ in range(8):
            procs = [
                subprocess.Popen(
                    [UVLAUNCH, str(script)],
                    env=sandbox.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(4)
            ]
            for p in procs:
                out, err = p.communicate(timeout=120)
                assert p.returncode == 0, err
                got = json.loads(out.strip().splitlines()[-1])
                assert got["alpha"] == "2.0", got
                assert got["prefix"].startswith(str(sandbox.home / "envs")), got
    finally:
        stop.set()
        thread.join()
    assert gcs and all(g.returncode == 0 and "Traceback" not in g.stderr for g in gcs)


# -- 3. a rebuild's trashed environment is not swept while it runs --------------------


def test_gc_leaves_the_trash_of_a_running_rebuild(sandbox: Sandbox) -> None:
    script = sandbox.script(deps=("alpha",), body=QUIET)
    assert sandbox.run(str(script)).returncode == 0
    name = names(sandbox)[str(script)]
    trashed = sandbox.home / "trash" / f"{name}.0123abcd"
    compiled(sandbox.envs()[0])
    shutil.copytree(sandbox.home / "envs" / name, trashed, symlinks=True)
    with FileLock(str(sandbox.home / "locks" / f"{name}.lock")).acquire(timeout=5):
        assert sandbox.run("gc").returncode == 0
        assert trashed.is_dir(), "gc swept the environment a rebuild had set aside"
    assert sandbox.run("gc").returncode == 0
    assert not trashed.exists()


# -- 4. a script that exists but cannot be checked is not gone ------------------------


def test_gc_keeps_an_environment_whose_script_cannot_be_checked(sandbox: Sandbox) -> None:
    sub = sandbox.scripts / "sub"
    script = sandbox.script(deps=("alpha",), body=QUIET, directory=sub)
    assert sandbox.run(str(script)).returncode == 0
    name = names(sandbox)[str(script)]
    # As root, no permission hides a file: a symlink loop (ELOOP) stands in for EACCES.
    sub.rename(sandbox.scripts / "real-sub")
    sub.symlink_to(sub)
    assert states(sandbox)[name] == "inaccessible"
    for args in (("gc",), ("gc", "--unused-for", "0s"), ("gc", "--include-unreachable")):
        proc = sandbox.run(*args)
        assert proc.returncode == 0 and "its script's path cannot be checked" in proc.stdout
    assert (sandbox.home / "envs" / name).is_dir()
    sub.unlink()
    (sandbox.scripts / "real-sub").rename(sub)
    assert sandbox.run(str(script)).stderr == ""


# -- 5. a wrong but well-formed record is not trusted over the stamp ------------------


@pytest.mark.parametrize("forged", ["/", "{}/", "{}x", "/tmp/elsewhere.py"])
def test_gc_keeps_an_environment_whose_record_disagrees(sandbox: Sandbox, forged: str) -> None:
    script = sandbox.script(deps=("alpha",), body=QUIET)
    assert sandbox.run(str(script)).returncode == 0
    settle(sandbox)
    name = names(sandbox)[str(script)]
    record = sandbox.home / "records" / f"{name}.json"
    data = json.loads(record.read_text())
    data["script"] = forged.format(str(script)[:-1])
    record.write_text(json.dumps(data))
    proc = sandbox.run("gc")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "removed" not in proc.stdout
    assert (sandbox.home / "envs" / name).is_dir()
    assert sandbox.run(str(script)).returncode == 0


# -- 6. nothing outside the home ------------------------------------------------------


@pytest.mark.parametrize("sub", ["envs", "trash", "locks", "records", "index"])
def test_remove_refuses_a_home_with_symlinked_directories(sandbox: Sandbox, sub: str) -> None:
    script = sandbox.script(deps=("alpha",), body=QUIET)
    assert sandbox.run(str(script)).returncode == 0
    compiled(sandbox.envs()[0])  # nothing writes in the home behind the test's back
    name = names(sandbox)[str(script)]
    outside = sandbox.root / "important"
    shutil.move(str(sandbox.home / sub), outside)
    (outside / "important_data").mkdir(exist_ok=True)
    (outside / "important_data" / "keep.txt").write_text("precious")
    (sandbox.home / sub).symlink_to(outside)
    before = sorted(str(p) for p in outside.rglob("*"))
    for args in (("remove", name), ("remove", "important_data"), ("gc", "--unused-for", "0s")):
        proc = sandbox.run(*args)
        assert_one_line_error(proc, "is a symlink")
    assert sorted(str(p) for p in outside.rglob("*")) == before


# -- 7. full disks -------------------------------------------------------------------


@pytest.fixture
def small_home(sandbox: Sandbox) -> Iterator[Path]:
    """The home on a tmpfs of its own, so that it can be filled."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    where = sandbox.root / "small"
    where.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    sandbox.env["UVLAUNCH_HOME"] = str(where / "home")
    sandbox.home = where / "home"
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def fill(where: Path) -> Path:
    """Fill the file system of ``where`` to the last byte; returns the file that does."""
    filler = where / "filler"
    # Unbuffered: a buffered file that hits ENOSPC raises again when closing, as it
    # flushes what it still holds. Smaller writes then take the last partial pages.
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return filler


def test_full_disk_gives_one_line_and_keeps_what_works(sandbox: Sandbox, small_home: Path) -> None:
    script = sandbox.script(deps=("alpha",))
    first = report(sandbox.run(str(script)))
    filler = fill(small_home)
    try:
        # A warm start writes nothing that matters: it still runs.
        assert report(sandbox.run(str(script))) == first
        # A first launch of another script, and a sync after an edit: one line each.
        other = sandbox.script("other.py", deps=("beta",))
        assert_one_line_error(sandbox.run(str(other)))
        script.write_text(script.read_text().replace('["alpha"]', '["alpha", "beta"]'))
        proc = sandbox.run(str(script))
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("uvlaunch: error: ")
    finally:
        filler.unlink()
    # With room again, both work, and nothing earlier failures left gets in the way.
    assert report(sandbox.run(str(script)))["alpha"] == first["alpha"]
    assert report(sandbox.run(str(other)))["alpha"] is None


# -- 8. odd paths --------------------------------------------------------------------


def run_bytes(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    """Like ``sandbox.run``, for output that holds a path's raw bytes (not UTF-8)."""
    proc = subprocess.run([UVLAUNCH, *args], env=sandbox.env, capture_output=True)
    out, err = (b.decode("utf-8", "surrogateescape") for b in (proc.stdout, proc.stderr))
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_name_that_is_not_utf8_is_one_environment(sandbox: Sandbox) -> None:
    raw = os.fsencode(str(sandbox.scripts)) + b"/caf\xe9.py"
    sandbox.script("x.py", deps=("alpha",))
    os.rename(os.fsencode(str(sandbox.scripts / "x.py")), raw)
    path = os.fsdecode(raw)
    first = run_bytes(sandbox, path)
    assert report(first)["alpha"] == "2.0", first.stderr
    again = run_bytes(sandbox, path)
    assert again.stderr == "" and report(again) == report(first)
    assert len(sandbox.envs()) == 1
    for args in (("sync", path), ("exec", path, "--", "python", "-c", "import alpha"), ("list",)):
        proc = run_bytes(sandbox, *args)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(sandbox.envs()) == 1


def test_list_and_gc_under_the_c_locale(sandbox: Sandbox) -> None:
    accented = sandbox.script("café.py", deps=("alpha",), body=QUIET)
    raw = os.fsencode(str(sandbox.scripts)) + b"/na\xefve.py"
    sandbox.script("x.py", deps=("alpha",), body=QUIET)
    os.rename(os.fsencode(str(sandbox.scripts / "x.py")), raw)
    assert sandbox.run(str(accented)).returncode == 0
    assert sandbox.run(os.fsdecode(raw)).returncode == 0
    c_locale = {**sandbox.env, "LC_ALL": "C", "PYTHONUTF8": "0"}
    sandbox.env, utf8 = c_locale, sandbox.env
    for args in (("list",), ("list", "--json"), ("gc", "--dry-run"), ("gc",)):
        proc = run_bytes(sandbox, *args)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    # Launched under the C locale too: the same environments, no rebuild.
    proc = run_bytes(sandbox, str(accented))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    sandbox.env = utf8
    assert set(states(sandbox).values()) == {"live"}
    assert len(sandbox.envs()) == 2


def test_a_script_named_like_a_command_run_by_bare_name(sandbox: Sandbox) -> None:
    # The script first: a file created after the orphan's was deleted may reuse its inode.
    sandbox.script("gc", deps=("alpha",), body="print('the gc script ran')")
    orphan = sandbox.script("orphan.py", deps=("alpha",), body=QUIET)
    assert sandbox.run(str(orphan)).returncode == 0
    orphan.unlink()
    # What execvp does with an empty PATH entry: the kernel gets the bare name "gc".
    runner = "import os, sys; os.execvp('gc', ['gc'])"
    env = {**sandbox.env, "PATH": ":" + sandbox.env["PATH"]}
    proc = sandbox.capture([sys.executable, "-c", runner], env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "the gc script ran"
    assert len(sandbox.envs()) == 2, "uvlaunch ran its own gc"


# -- 10. an inode reused by an unrelated file ------------------------------------------


def _forge_inode(sandbox: Sandbox, name: str, target: Path) -> None:
    """Make the record, stamp and index say the script had ``target``'s inode."""
    settle(sandbox)
    st = target.stat()
    record = sandbox.home / "records" / f"{name}.json"
    data = json.loads(record.read_text())
    data["ino"] = st.st_ino
    record.write_text(json.dumps(data))
    stamp = current_generation(sandbox.home / "envs" / name) / "uvlaunch-stamp"
    parts = stamp.read_bytes().split(b"\0")
    parts[parts.index(b"ino") + 1] = str(st.st_ino).encode()
    stamp.write_bytes(b"\0".join(parts))


def test_gc_search_ignores_an_unrelated_file_with_the_inode(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py", deps=("alpha",), body=QUIET)
    assert sandbox.run(str(script)).returncode == 0
    name = names(sandbox)[str(script)]
    archive = sandbox.root / "archive"
    archive.mkdir()
    unrelated = archive / "shopping-list.txt"
    unrelated.write_text("milk\neggs\n")
    _forge_inode(sandbox, name, unrelated)
    script.unlink()
    proc = sandbox.run("gc", "--search", str(archive))
    assert proc.returncode == 0, proc.stderr
    assert f"removed {name}" in proc.stdout, proc.stdout


def test_gc_search_keeps_a_moved_script(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py", deps=("alpha",), body=QUIET)
    assert sandbox.run(str(script)).returncode == 0
    name = names(sandbox)[str(script)]
    archive = sandbox.root / "archive"
    archive.mkdir()
    moved = archive / "renamed.py"  # another name, the same block
    shutil.move(str(script), moved)
    proc = sandbox.run("gc", "--search", str(archive))
    assert f"kept {name}: its script is now {moved}" in proc.stdout, proc.stdout
    assert states(sandbox) == {name: "live"}
    assert sandbox.run(str(moved)).returncode == 0 and len(sandbox.envs()) == 1


# -- 11. settings do what the README says ------------------------------------------------

PARENT = "import os; print(os.path.basename(os.readlink(f'/proc/{os.getppid()}/exe')))"


def test_no_fast_path_setting_goes_through_uv(sandbox: Sandbox) -> None:
    script = sandbox.script(deps=("alpha",), body=PARENT)
    assert sandbox.run(str(script)).returncode == 0
    shell_parent = sandbox.run(str(script)).stdout.strip()
    assert shell_parent != "uv"  # warm: the fast path, no uv in between
    for env in ({**sandbox.env, "UVLAUNCH_NO_FAST_PATH": "1"},):
        assert sandbox.run(str(script), env=env).stdout.strip() == "uv"
        assert sandbox.run("run", str(script), env=env).stdout.strip() == "uv"
    assert sandbox.run("--no-fast-path", str(script)).stdout.strip() == "uv"


@pytest.mark.parametrize("path", ["/proc/self/environ", "/proc/self/status", "/dev/null"])
def test_kernel_files_are_not_scripts(sandbox: Sandbox, path: str) -> None:
    assert_one_line_error(sandbox.run(path), path)
    assert_one_line_error(sandbox.run(path), path)
    assert sandbox.envs() == []
    records = sandbox.home / "records"
    assert not records.exists() or list(records.iterdir()) == []
