"""Reliability and safety (issue 5): concurrency, crashes, broken interpreters,
damaged state, permissions and hostile names.

Everything runs the real ``uvlaunch`` command and the real uv, offline, against the
local wheelhouse; nothing is mocked. Crashes are real SIGKILLs of real processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import UVLAUNCH, Sandbox, compiled, interpreter_dir, report

# A script body that imports every package it was given and prints their versions.
IMPORTS_BODY = """\
import importlib, json, sys
names = [a for a in sys.argv[1:]]
print(json.dumps({n: importlib.import_module(n).VERSION for n in names} | {
    "python": "%d.%d" % sys.version_info[:2], "prefix": sys.prefix}))
"""


def uvlaunch_lines(stderr: str) -> list[str]:
    """The lines uvlaunch itself wrote (uv's own lines do not start with ``uvlaunch:``)."""
    return [line for line in stderr.splitlines() if line.startswith("uvlaunch:")]


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


def complete_envs(sandbox: Sandbox) -> list[Path]:
    return [e for e in sandbox.envs() if (e / "uvlaunch-stamp").is_file()]


def site_packages(env: Path) -> Path:
    found = list(env.glob("lib/python*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def launch_json(sandbox: Sandbox, script: Path, *args: str, **kw: object) -> dict[str, object]:
    return report(sandbox.run(str(script), *args, **kw))  # type: ignore[arg-type]


def popen(sandbox: Sandbox, *args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [UVLAUNCH, *args],
        cwd=sandbox.scripts,
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


# -- 1. concurrent first launches ----------------------------------------------------


def test_sixteen_concurrent_first_launches_make_one_environment(sandbox: Sandbox) -> None:
    script = sandbox.script("busy.py", deps=("alpha", "beta"))
    procs = [popen(sandbox, str(script), str(i)) for i in range(16)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    prefixes = {json.loads(out.strip().splitlines()[-1])["prefix"] for out, _ in outs}
    assert len(prefixes) == 1
    assert len(sandbox.envs()) == 1
    assert len(list((sandbox.home / "records").iterdir())) == 1


def test_concurrent_first_launches_through_links_make_one_environment(sandbox: Sandbox) -> None:
    real = sandbox.script("real.py", deps=("alpha",))
    hard = sandbox.scripts / "hard.py"
    os.link(real, hard)
    soft = sandbox.scripts / "soft.py"
    soft.symlink_to(real)
    (sandbox.scripts / "dirlink").symlink_to(sandbox.scripts)
    via_dir = sandbox.scripts / "dirlink" / "hard.py"
    other = sandbox.root / "elsewhere"
    other.mkdir()
    os.link(real, other / "far.py")
    ways = [real, hard, soft, via_dir, other / "far.py", Path("..") / "scripts" / "hard.py"]
    procs = [popen(sandbox, str(ways[i % len(ways)])) for i in range(16)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err
        assert json.loads(out.strip().splitlines()[-1])["alpha"] == "2.0"
    assert len(sandbox.envs()) == 1
    assert len(list((sandbox.home / "records").iterdir())) == 1
    # Warm launches through every path agree too.
    for way in ways:
        assert launch_json(sandbox, way)["prefix"] == str(sandbox.envs()[0])


# -- 2. gc during launches -------------------------------------------------------------


def test_gc_running_repeatedly_never_fails_a_launch(sandbox: Sandbox) -> None:
    # The live scripts first: a file created after an orphan's was deleted may reuse its
    # inode, and uvlaunch (which follows files by inode) would take it for a move.
    scripts = [sandbox.script(f"live{i}.py", deps=("alpha",)) for i in range(4)]
    # Orphans for gc to really remove while the launches go on.
    for i in range(3):
        orphan = sandbox.script(f"orphan{i}.py", deps=("beta",))
        report(sandbox.run(str(orphan)))
        orphan.unlink()

    stop = threading.Event()
    gc_runs: list[subprocess.CompletedProcess[str]] = []

    def gc_loop() -> None:
        while not stop.is_set():
            gc_runs.append(sandbox.run("gc"))

    thread = threading.Thread(target=gc_loop)
    thread.start()
    try:
        for round_ in range(3):
            if round_ == 1:  # a change of block: every launch syncs while gc runs
                for s in scripts:
                    s.write_text(s.read_text().replace('= ["alpha"]', '= ["alpha", "beta"]'))
            procs = [popen(sandbox, str(s)) for s in scripts for _ in range(3)]
            for p in procs:
                _out, err = p.communicate(timeout=120)
                assert p.returncode == 0, err
                assert "Traceback" not in err
    finally:
        stop.set()
        thread.join()
    assert gc_runs
    for run in gc_runs:
        assert run.returncode == 0, run.stderr
        no_traceback(run)
    names = {e.name for e in sandbox.env_dirs()}
    assert len(names) == 4
    assert all(n.startswith("live") for n in names), names


# -- 3. killed mid-way -----------------------------------------------------------------

DEPS4 = ("alpha", "beta", "gamma", "needsalpha")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def uv_work_child(pid: int) -> int | None:
    """The uv child of ``pid`` that creates or syncs (not ``uv --version``), if running."""
    for child in children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"uv" and (b"sync" in argv or b"venv" in argv):
            return child
    return None


def wait_for(cond: object, proc: subprocess.Popen[str], limit: float = 30) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    return False


def kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)


def check_recovered(sandbox: Sandbox, script: Path, expect: dict[str, str]) -> None:
    proc = sandbox.run(str(script), *expect)
    no_traceback(proc)
    got = report(proc)
    for name, version in expect.items():
        assert got[name] == version, (name, got, proc.stderr)
    assert len(sandbox.envs()) == 1
    assert len(complete_envs(sandbox)) == 1
    # And it stays good: the next launch is warm and changes nothing.
    again = sandbox.run(str(script), *expect)
    assert report(again) == got
    assert uvlaunch_lines(again.stderr) == []


KILL_MOMENTS = ["0.05", "0.1", "0.2", "0.4", "record", "envdir", "uv-started", "installing"]


def start_and_kill(sandbox: Sandbox, script: Path, moment: str) -> None:
    proc = popen(sandbox, str(script), *DEPS4, start_new_session=True)
    home = sandbox.home
    conds = {
        "record": lambda: any((home / "records").glob("*.json")),
        "envdir": lambda: any((home / "envs").glob("*")),
        "uv-started": lambda: uv_work_child(proc.pid) is not None,
        "installing": lambda: any(home.glob("envs/*/lib/python*/site-packages/*")),
    }
    if moment in conds:
        wait_for(conds[moment], proc)
    else:
        time.sleep(float(moment))
    kill_group(proc)


@pytest.mark.parametrize("moment", KILL_MOMENTS)
def test_killed_during_creation_is_repaired(sandbox: Sandbox, moment: str) -> None:
    script = sandbox.script("victim.py", deps=DEPS4, body=IMPORTS_BODY)
    start_and_kill(sandbox, script, moment)
    check_recovered(sandbox, script, {"alpha": "2.0", "beta": "1.0", "needsalpha": "1.0"})


@pytest.mark.parametrize("moment", ["0.05", "0.1", "0.2", "uv-started", "installing"])
def test_killed_during_sync_is_repaired(sandbox: Sandbox, moment: str) -> None:
    script = sandbox.script("victim.py", deps=("alpha==1.0",), body=IMPORTS_BODY)
    assert report(sandbox.run(str(script), "alpha"))["alpha"] == "1.0"
    script.write_text(script.read_text().replace('"alpha==1.0"', '"alpha==2.0", "beta"'))
    if moment == "installing":
        # Wait for uv to install into the edit's new generation (beside the current one).
        first = sandbox.envs()[0]
        proc = popen(sandbox, str(script), "alpha", "beta", start_new_session=True)
        wait_for(
            lambda: any(
                p.name.startswith("beta")
                for g in first.parent.glob("g*")
                if g != first
                for p in g.glob("lib/python*/site-packages/*")
            ),
            proc,
        )
        kill_group(proc)
    else:
        start_and_kill(sandbox, script, moment)
    check_recovered(sandbox, script, {"alpha": "2.0", "beta": "1.0"})


@pytest.mark.parametrize("phase", ["create", "sync"])
def test_uv_child_killed_fails_cleanly_then_repairs(sandbox: Sandbox, phase: str) -> None:
    script = sandbox.script("victim.py", deps=("alpha==1.0",), body=IMPORTS_BODY)
    if phase == "sync":
        report(sandbox.run(str(script), "alpha"))
        script.write_text(script.read_text().replace('"alpha==1.0"', '"alpha==2.0", "beta"'))
    proc = popen(sandbox, str(script), "alpha", start_new_session=True)
    killed = []

    def kill_uv() -> bool:
        child = uv_work_child(proc.pid)
        if child is not None:
            os.kill(child, signal.SIGKILL)
            killed.append(child)
        return bool(killed)

    wait_for(kill_uv, proc)
    _out, err = proc.communicate(timeout=60)
    if killed and proc.returncode != 0:
        assert "Traceback" not in err
        lines = uvlaunch_lines(err)
        assert len(lines) == 1 and "uv could not" in lines[0], err
    expect = {"alpha": "1.0"} if phase == "create" else {"alpha": "2.0", "beta": "1.0"}
    check_recovered(sandbox, script, expect)


class HangingIndex:
    """A package index on the loopback address that accepts connections, never answers."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/simple"
        self.connected = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                self.conns.append(conn)
                self.connected.set()

    def close(self) -> None:
        self.server.close()
        for conn in self.conns:
            conn.close()


def test_ctrl_c_during_a_first_launch(sandbox: Sandbox) -> None:
    # uv waits on the index after it has created the environment; Ctrl-C reaches the
    # terminal's foreground group: uvlaunch and uv together.
    script = sandbox.script("victim.py", deps=("alpha",))
    index = HangingIndex()
    env = {k: v for k, v in sandbox.env.items() if "proxy" not in k.lower()}
    env.pop("UV_OFFLINE")
    env.pop("UV_FIND_LINKS")
    env.update(UV_DEFAULT_INDEX=index.url, UV_HTTP_TIMEOUT="120", NO_PROXY="*")
    proc = subprocess.Popen(
        [UVLAUNCH, str(script)],
        cwd=sandbox.scripts,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert index.connected.wait(60), "uv never asked the index"
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        index.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert uvlaunch_lines(err) == []
    assert sandbox.envs() == []  # nothing half-built left where a launch would find it
    assert launch_json(sandbox, script, "alpha")["alpha"] == "2.0"


def first_line(stream: object, deadline: float) -> str:
    """The first line on the pipe ``stream``, read before ``deadline`` (monotonic)."""
    import select

    fd = stream.fileno()  # type: ignore[attr-defined]
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        assert left > 0, f"no line within the deadline; so far: {data!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"closed without a line; so far: {data!r}"
            data += chunk
    return data.decode().splitlines()[0]


@pytest.mark.parametrize("holder", ["launch", "upgrade"])
def test_a_launch_that_waits_says_what_for(sandbox: Sandbox, holder: str) -> None:
    # The holder of the environment's lock hangs on an index that never answers: a
    # first launch creating the environment, or an upgrade asking what is newer. The
    # launch that needs the lock says on stderr, at once, who it waits for.
    script = sandbox.script("waiter.py", deps=("alpha",), body=IMPORTS_BODY)
    if holder == "upgrade":
        report(sandbox.run(str(script), "alpha"))
    index = HangingIndex()
    hanging = {k: v for k, v in sandbox.env.items() if "proxy" not in k.lower()}
    for key in ("UV_OFFLINE", "UV_FIND_LINKS"):
        hanging.pop(key)
    hanging.update(UV_DEFAULT_INDEX=index.url, UV_HTTP_TIMEOUT="120", NO_PROXY="*")
    argv = [UVLAUNCH, str(script)] if holder == "launch" else [UVLAUNCH, "upgrade", str(script)]
    first = subprocess.Popen(
        argv,
        env=hanging,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    waiter = None
    try:
        assert index.connected.wait(60), "uv never asked the index"
        if holder == "upgrade":  # a block edited meanwhile: this launch must sync
            script.write_text(script.read_text().replace('["alpha"]', '["alpha", "beta"]'))
        waiter = subprocess.Popen(
            [UVLAUNCH, str(script), "alpha"],
            cwd=sandbox.scripts,
            env=sandbox.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        line = first_line(waiter.stderr, time.monotonic() + 60)
        doing = "creating or syncing" if holder == "launch" else "upgrading"
        assert line == (
            f"uvlaunch: {script}: waiting for uvlaunch (pid {first.pid}), "
            f"which is {doing} its environment"
        ), line
        assert waiter.poll() is None  # it waits, having said so
        os.killpg(first.pid, signal.SIGKILL)
        out, err = waiter.communicate(timeout=120)
        assert waiter.returncode == 0, err
        assert json.loads(out.decode().splitlines()[-1])["alpha"] == "2.0"
    finally:
        index.close()
        for proc in (first, waiter):
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(60)


def test_removed_stamp_after_partial_sync_is_repaired_not_trusted(sandbox: Sandbox) -> None:
    # What a kill between "stamp removed" and "sync finished" leaves: no stamp, and
    # site-packages half-changed (alpha uninstalled, nothing installed yet).
    script = sandbox.script("victim.py", deps=("alpha",), body=IMPORTS_BODY)
    report(sandbox.run(str(script), "alpha"))
    env = compiled(sandbox.envs()[0])  # its compiler writes into site-packages: rm races it
    (env / "uvlaunch-stamp").unlink()
    sp = site_packages(env)
    for p in list(sp.glob("alpha*")):
        subprocess.run(["rm", "-rf", str(p)], check=True)
    proc = sandbox.run(str(script), "alpha")
    assert report(proc)["alpha"] == "2.0"
    lines = uvlaunch_lines(proc.stderr)
    assert len(lines) == 1 and "did not finish" in lines[0], proc.stderr


# -- 4. broken interpreter ---------------------------------------------------------------


def test_dangling_interpreter_builds_a_variant_with_one_line(sandbox: Sandbox) -> None:
    script = sandbox.script("py.py", deps=("alpha",))
    report(sandbox.run(str(script)))
    env = sandbox.envs()[0]
    python = env / "bin" / "python"
    python.unlink()
    python.symlink_to(sandbox.root / "removed-pyenv" / "bin" / "python3.11")
    proc = sandbox.run(str(script))
    assert report(proc)["alpha"] == "2.0"
    lines = uvlaunch_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    # An interpreter that is not here may be another machine's (a shared home): its
    # environment stays, and this machine gets a variant of its own beside it.
    assert "building its environment for this machine's Python" in lines[0]
    assert "not on this machine" in lines[0]
    (env_dir,) = sandbox.env_dirs()
    assert env.exists() and env.parent == env_dir
    variants = sorted(p.name for p in env_dir.iterdir() if p.name.startswith("current"))
    assert variants[0] == "current" and len(variants) == 2, variants
    rebuilt = env_dir / os.readlink(env_dir / variants[1])
    assert rebuilt != env and (rebuilt / "bin" / "python").exists()
    quiet = sandbox.run(str(script))
    assert report(quiet) and uvlaunch_lines(quiet.stderr) == []


def test_requires_python_change_rebuilds_with_one_line(sandbox: Sandbox) -> None:
    py311, py312 = interpreter_dir("3.11"), interpreter_dir("3.12")
    if py311 is None or py312 is None:
        pytest.skip("needs real python3.11 and python3.12")
    env = dict(sandbox.env)
    env["PATH"] = os.pathsep.join([env["PATH"].split(os.pathsep)[0], py311, py312, "/usr/bin"])
    script = sandbox.script(
        "ver.py", deps=("alpha",), requires_python="==3.11.*", body=IMPORTS_BODY
    )
    assert report(sandbox.run(str(script), "alpha", env=env))["python"] == "3.11"
    script.write_text(script.read_text().replace("==3.11.*", ">=3.12"))
    proc = sandbox.run(str(script), "alpha", env=env)
    got = report(proc)
    assert got["python"] == "3.12" and got["alpha"] == "2.0"
    lines = uvlaunch_lines(proc.stderr)
    assert len(lines) == 1 and "requires-python" in lines[0], proc.stderr
    assert len(sandbox.envs()) == 1


# -- 5. a failed sync loses nothing --------------------------------------------------------


def test_failed_sync_leaves_environment_and_revert_runs_offline(sandbox: Sandbox) -> None:
    # No background compiler: it would write into site-packages after the snapshot.
    sandbox.env["UVLAUNCH_COMPILE_BYTECODE"] = "0"
    script = sandbox.script("keep.py", deps=("alpha",), body=IMPORTS_BODY)
    original = script.read_text()
    report(sandbox.run(str(script), "alpha"))
    env = sandbox.envs()[0]
    stamp_before = (env / "uvlaunch-stamp").read_bytes()
    site_before = sorted(p.name for p in site_packages(env).iterdir())

    script.write_text(original.replace('= ["alpha"]', '= ["alpha", "zeta-not-in-wheelhouse"]'))
    proc = sandbox.run(str(script), "alpha")
    assert proc.returncode != 0
    no_traceback(proc)
    assert "zeta-not-in-wheelhouse" in proc.stderr  # uv's reason
    lines = uvlaunch_lines(proc.stderr)
    assert len(lines) == 1 and "error" in lines[0] and "left as it was" in lines[0], proc.stderr
    assert (env / "uvlaunch-stamp").read_bytes() == stamp_before
    assert sorted(p.name for p in site_packages(env).iterdir()) == site_before

    script.write_text(original)
    for clean_cache in (False, True):
        if clean_cache:
            assert sandbox.uv("cache", "clean").returncode == 0
        again = sandbox.run(str(script), "alpha")
        assert report(again)["alpha"] == "2.0"
        assert again.stderr == ""  # no sync, no message
        assert (env / "uvlaunch-stamp").read_bytes() == stamp_before
        slow = sandbox.run("--no-fast-path", str(script), "alpha")
        assert report(slow)["alpha"] == "2.0"
        assert uvlaunch_lines(slow.stderr) == []


# -- 6. damaged state ----------------------------------------------------------------------

GARBAGE = {
    "empty": b"",
    "truncated": None,  # the first half of the real content
    "binary": b"\x00\xff\xfe garbage \x80" * 20,
    "json-wrong": b'{"script": "rel\\u0000x", "dev": "1", "ino": [], "created": null}',
    "json-surrogate": b'{"script": "/x/\\ud800.py", "dev": 1, "ino": 2, "created": 1}',
}


def damage(path: Path, how: str) -> None:
    data = GARBAGE[how]
    if data is None:
        data = path.read_bytes()[: max(1, len(path.read_bytes()) // 2)]
    path.write_bytes(data)


def check_commands(sandbox: Sandbox, script: Path) -> None:
    for args in (
        ("list",),
        ("list", "--json"),
        ("where", str(script)),
        ("gc",),
        ("gc", "--dry-run"),
    ):
        proc = sandbox.run(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        no_traceback(proc)


def test_an_environment_from_before_generations_is_rebuilt_once(sandbox: Sandbox) -> None:
    script = sandbox.script("old.py", deps=("alpha",))
    report(sandbox.run(str(script)))
    (env_dir,) = sandbox.env_dirs()
    # The layout before generations: envs/NAME was the virtual environment itself, its
    # rollback in previous/NAME, its use lock locks/NAME.use.
    (env_dir / "current").unlink()
    for entry in (env_dir / "g1").iterdir():
        entry.rename(env_dir / entry.name)
    (env_dir / "g1").rmdir()
    (sandbox.home / "previous" / env_dir.name).mkdir(parents=True)
    (sandbox.home / "locks" / f"{env_dir.name}.use").touch()
    proc = sandbox.run(str(script))
    assert report(proc)["prefix"] == str(env_dir / "g1")
    lines = uvlaunch_lines(proc.stderr)
    assert len(lines) == 1 and "made by an older uvlaunch" in lines[0], proc.stderr
    assert not (env_dir / "pyvenv.cfg").exists()
    again = sandbox.run(str(script))
    assert report(again)["prefix"] == str(env_dir / "g1") and again.stderr == ""
    assert sandbox.run("gc").returncode == 0  # and what else it had is swept
    assert not (sandbox.home / "previous").exists()
    assert sorted(p.name for p in (sandbox.home / "locks").iterdir()) == [
        "index.lock",
        f"{env_dir.name}.lock",
    ]


@pytest.mark.parametrize("how", list(GARBAGE))
@pytest.mark.parametrize("what", ["record", "ino-index", "path-index", "all-index", "stamp", "tmp"])
def test_damaged_state_never_tracebacks(sandbox: Sandbox, what: str, how: str) -> None:
    script = sandbox.script("damaged.py", deps=("alpha",))
    env_before = report(sandbox.run(str(script)))["prefix"]
    home = sandbox.home
    targets = {
        "record": list((home / "records").glob("*.json")),
        "ino-index": list((home / "index").glob("ino-*")),
        "path-index": list((home / "index").glob("path-*")),
        "all-index": list((home / "index").iterdir()),
        "stamp": [sandbox.envs()[0] / "uvlaunch-stamp"],
        "tmp": [home / "tmp" / "damaged.json.0123abcd"],
    }[what]
    for target in targets:
        if not target.exists():
            target.write_bytes(b'{"name": "damaged"}')
        damage(target, how)
    for args in ((str(script),), ("--no-fast-path", str(script))):
        proc = sandbox.run(*args)
        no_traceback(proc)
        assert report(proc)["alpha"] == "2.0"
        assert sandbox.env_dirs() == [Path(str(env_before)).parent]
    check_commands(sandbox, script)
    # What was left was enough: the same environment, no second one (a damaged stamp
    # gets it a new generation: the environment's directory is what stays).
    assert sandbox.env_dirs() == [Path(str(env_before)).parent]
    assert sandbox.envs() == [Path(str(report(sandbox.run(str(script)))["prefix"]))]


@pytest.mark.parametrize("script_gone", [False, True])
def test_gc_keeps_environment_whose_record_and_stamp_are_unreadable(
    sandbox: Sandbox, script_gone: bool
) -> None:
    script = sandbox.script("unread.py", deps=("alpha",))
    report(sandbox.run(str(script)))
    # The background compiler writes the record's birth time first: damage after it.
    env = compiled(sandbox.envs()[0])
    next((sandbox.home / "records").glob("*.json")).write_bytes(b"\x00garbage")
    (env / "uvlaunch-stamp").write_bytes(b"")
    if script_gone:
        script.unlink()
    proc = sandbox.run("gc")
    no_traceback(proc)
    assert proc.returncode == 0
    assert env.is_dir() and sandbox.envs() == [env]
    assert f"kept {env.parent.name}" in proc.stdout
    listed = sandbox.run("list", "--json")
    no_traceback(listed)
    assert [e["state"] for e in json.loads(listed.stdout)] == ["unknown"]


def test_gc_keeps_live_environment_whose_record_is_unreadable(sandbox: Sandbox) -> None:
    script = sandbox.script("live.py", deps=("alpha",))
    report(sandbox.run(str(script)))
    compiled(sandbox.envs()[0])  # its birth time written first (lookup.note_birth)
    next((sandbox.home / "records").glob("*.json")).write_bytes(b"")
    proc = sandbox.run("gc")
    no_traceback(proc)
    assert len(sandbox.envs()) == 1


def test_trash_leftovers_are_deleted_without_following_symlinks(sandbox: Sandbox) -> None:
    script = sandbox.script("t.py", deps=("alpha",))
    report(sandbox.run(str(script)))
    outside = sandbox.root / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    left = sandbox.home / "trash" / "t-0123456789.deadbeef"
    (left / "ro").mkdir(parents=True)
    (left / "ro" / "file").write_text("x")
    (left / "link").symlink_to(outside)
    (left / "ro").chmod(0o500)
    (sandbox.home / "trash" / "stray-file").write_bytes(b"\xff")
    proc = sandbox.run("gc")
    no_traceback(proc)
    assert proc.returncode == 0
    assert list((sandbox.home / "trash").iterdir()) == []
    assert (outside / "keep.txt").read_text() == "keep"


# -- 7. permissions --------------------------------------------------------------------------


def test_home_is_created_private(sandbox: Sandbox) -> None:
    report(sandbox.run(str(sandbox.script("p.py", deps=()))))
    assert (sandbox.home.stat().st_mode & 0o777) == 0o700
    for sub in sandbox.home.iterdir():
        if sub.is_dir():
            assert sub.stat().st_mode & 0o077 == 0, sub


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_home_writable_by_others_is_refused(sandbox: Sandbox, mode: int) -> None:
    script = sandbox.script("p.py", deps=("alpha",))
    report(sandbox.run(str(script)))  # warm: the fast path must refuse too
    sandbox.home.chmod(mode)
    try:
        for args in ((str(script),), ("--no-fast-path", str(script)), ("list",), ("gc",)):
            proc = sandbox.run(*args)
            assert proc.returncode != 0, (args, proc.stdout)
            assert proc.stdout == ""
            no_traceback(proc)
            lines = proc.stderr.splitlines()
            assert len(lines) == 1 and "writable by others" in lines[0], (args, proc.stderr)
    finally:
        sandbox.home.chmod(0o700)


def test_home_owned_by_another_user_is_refused(sandbox: Sandbox) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to chown")
    script = sandbox.script("p.py", deps=("alpha",))
    report(sandbox.run(str(script)))
    os.chown(sandbox.home, 65534, 65534)
    try:
        for args in ((str(script),), ("list",)):
            proc = sandbox.run(*args)
            assert proc.returncode != 0
            no_traceback(proc)
            lines = proc.stderr.splitlines()
            assert len(lines) == 1 and "owned by uid 65534" in lines[0], proc.stderr
    finally:
        os.chown(sandbox.home, 0, 0)


# -- 8. hostile names and paths ------------------------------------------------------------------


def test_hostile_names_launch_with_safe_environment_names(sandbox: Sandbox) -> None:
    d = sandbox.scripts
    (d / "real-dir").mkdir()
    (d / "linked-dir").symlink_to(d / "real-dir")
    (d / "sub").mkdir()
    names = [
        "with space s.py",
        "naïve-ßkript.py",
        "скрипт.py",
        "new\nline.py",
        ".hidden.py",
        "..py",
        "-dash.py",
        "a" * 247 + ".py",
        "é" * 124 + ".py",  # 248 bytes of UTF-8
    ]
    invocations: list[str] = []
    for name in names:
        path = sandbox.script(name, deps=("alpha",))
        invocations.append(str(path))
    sandbox.script("through-link.py", deps=("alpha",), directory=d / "real-dir")
    invocations.append(str(d / "linked-dir" / "through-link.py"))
    sandbox.script("dotdot.py", deps=("alpha",))
    invocations.append("sub/../dotdot.py")
    invocations.append(str(d / "sub" / ".." / "with space s.py"))  # same file as the first
    for invoked in invocations:
        proc = sandbox.run(invoked)
        no_traceback(proc)
        assert report(proc)["alpha"] == "2.0", invoked
    envs = sandbox.envs()
    assert len(envs) == len(invocations) - 1
    for env in sandbox.env_dirs():
        name = env.name
        assert name.isascii() and "/" not in name and "\n" not in name
        assert not name.startswith((".", "-")) and name not in (".", "..")
        assert len(name.encode()) < 100
        assert env.parent == sandbox.home / "envs"
        assert env.resolve().parent == (sandbox.home / "envs").resolve()
    for p in (sandbox.home / "records").iterdir():
        assert p.name.isascii() and not p.name.startswith(".")
    for invoked in invocations:
        where = sandbox.run("where", invoked)
        assert where.returncode == 0, where.stderr
        assert Path(os.path.realpath(where.stdout.strip())) in envs


def test_unsatisfiable_requires_python_keeps_the_old_environment(sandbox: Sandbox) -> None:
    script = sandbox.script("keep.py", deps=("alpha",), requires_python=">=3.10")
    original = script.read_text()
    report(sandbox.run(str(script)))
    env = sandbox.envs()[0]
    stamp_before = (env / "uvlaunch-stamp").read_bytes()
    script.write_text(original.replace(">=3.10", ">=3.99"))
    proc = sandbox.run(str(script))
    assert proc.returncode != 0
    no_traceback(proc)
    errors = [line for line in uvlaunch_lines(proc.stderr) if "error" in line]
    assert len(errors) == 1 and ">=3.99" in errors[0], proc.stderr
    assert sandbox.envs() == [env]
    assert (env / "uvlaunch-stamp").read_bytes() == stamp_before
    script.write_text(original)
    again = sandbox.run(str(script))
    assert report(again)["alpha"] == "2.0"
    assert again.stderr == ""
