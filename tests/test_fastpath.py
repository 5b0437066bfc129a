"""The warm fast path (issue 4): same child as through uv, and taken only when it may be.

How a test tells which path a launch took, without timing it: the sandbox's uv is a
copy of the real binary (``UVLAUNCH_UV``), and ``chmod 644`` makes that copy
unusable without changing what the fast path compares (device, inode, size, mtime).
A fast-path start never runs uv, so it still works; anything else needs uv (the slow
path calls it, or at least finds and checks it) and fails with uvlaunch's one-line
error about UVLAUNCH_UV.

What ``uv run`` sets for the script it starts was found by comparing the child's
``os.environ`` under uv 0.13 with the caller's: VIRTUAL_ENV, PATH with the
environment's bin first (``bin:`` when PATH is set but empty, ``bin`` when unset), UV
(uv's own binary) and UV_RUN_RECURSION_DEPTH (counted up). It leaves CONDA_PREFIX and
everything else alone. Known differences, not tested here (see docs/performance.md):
a script killed by a signal kills the fast-path process itself (the caller sees the
signal, a shell prints 128+n either way) where ``uv run`` exits with 128+n; uv refuses
to start at all when UV_RUN_RECURSION_DEPTH is not a number, the fast path counts it
from 0; and uv's child inherits two ignored glibc-internal real-time signals (SigIgn
bits 32 and 33 in /proc/self/status) from uv.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    UV,
    Sandbox,
    block_handover,
    in_background,
    is_native,
    make_script,
    must_be_warm,
    report,
)

from uvlaunch.home import paths

# Every test here runs with each launcher as `uvlaunch`: the native one and Python's.
pytestmark = pytest.mark.usefixtures("launcher")

# Reports everything the script can see of how it was started; exits with the status
# given as its first argument.
ENV_REPORT = """\
import json, os, sys
data = {
    "environ": dict(os.environ),
    "argv": sys.argv,
    "orig_argv": sys.orig_argv[1:],
    "cwd": os.getcwd(),
    "executable": sys.executable,
    "prefix": sys.prefix,
    "stdin": sys.stdin.read(),
}
print(json.dumps(data))
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def uv_copy(sandbox: Sandbox) -> Iterator[Path]:
    """A private copy of the uv binary, used through UVLAUNCH_UV."""
    path = sandbox.root / "uv-bin" / "uv"
    path.parent.mkdir()
    shutil.copy(UV, path)
    path.chmod(0o755)
    sandbox.env["UVLAUNCH_UV"] = str(path)
    yield path


def path_taken(
    sandbox: Sandbox, uv: Path, script: Path, *args: str, env: dict[str, str] | None = None
) -> str:
    """Start ``script`` with uv unusable: "native" if the native launcher started it,
    "python" if the Python fast path did, "slow" if it needed uv."""
    uv.chmod(0o644)
    try:
        if is_native(sandbox.command):
            with block_handover(sandbox):
                proc = sandbox.run(*args, str(script), env=env)
            if proc.returncode == 0:
                assert proc.stderr == "", proc.stderr
                return "native"
            assert (proc.returncode, proc.stderr) == (99, "handed over\n"), proc.stderr
        proc = sandbox.run(*args, str(script), env=env)
    finally:
        uv.chmod(0o755)
    detail = f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    if proc.returncode == 0:
        assert proc.stderr == "", detail  # a warm start prints nothing of its own
        return "python"
    assert proc.returncode == 2 and "UVLAUNCH_UV" in proc.stderr, detail
    return "slow"


def warm(sandbox: Sandbox) -> str:
    """How a warm start goes with the sandbox's launcher."""
    return "native" if is_native(sandbox.command) else "python"


def launched(sandbox: Sandbox, script: Path, *args: str) -> dict[str, object]:
    """Start ``script`` normally (uv usable) and return its report."""
    return report(sandbox.run(str(script), *args))


# -- the child is the same on both paths ---------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"CONDA_PREFIX": "/opt/some-conda"},
        {"VIRTUAL_ENV": "/some/other/venv"},
        {"UV_RUN_RECURSION_DEPTH": "4"},
        {"PATH": ""},
    ],
    ids=["plain", "conda-prefix", "other-virtual-env", "recursion-depth", "empty-path"],
)
def test_child_is_the_same_on_the_fast_path_and_through_uv(
    sandbox: Sandbox, uv_copy: Path, extra: dict[str, str]
) -> None:
    script = sandbox.scripts / "tool" / "show.py"
    script.parent.mkdir()
    script.write_text(make_script(body=ENV_REPORT))
    script.chmod(0o755)
    elsewhere = sandbox.root / "elsewhere"
    elsewhere.mkdir()
    invoked = os.path.relpath(script, elsewhere)  # relative, from another directory
    args = (invoked, "7", "a b", "--help", "-q")
    first = sandbox.run(*args, cwd=elsewhere, input="")
    assert first.returncode == 7, first.stderr

    env = {**sandbox.env, **extra}
    uv_copy.chmod(0o644)  # the fast path must not need uv
    try:
        with must_be_warm(sandbox):
            fast = sandbox.run(*args, cwd=elsewhere, env=env, input="some input\n")
    finally:
        uv_copy.chmod(0o755)
    slow = sandbox.run("--no-fast-path", *args, cwd=elsewhere, env=env, input="some input\n")

    assert fast.returncode == slow.returncode == 7, (fast.stderr, slow.stderr)
    assert fast.stderr == ""
    seen_fast, seen_slow = json.loads(fast.stdout), json.loads(slow.stdout)
    env_fast, env_slow = seen_fast.pop("environ"), seen_slow.pop("environ")
    assert seen_fast == seen_slow
    assert seen_fast["argv"] == [invoked, "7", "a b", "--help", "-q"]
    assert seen_fast["cwd"] == str(elsewhere)
    assert seen_fast["stdin"] == "some input\n"
    differences = {
        k: (env_fast.get(k), env_slow.get(k))
        for k in env_fast.keys() | env_slow.keys()
        if env_fast.get(k) != env_slow.get(k)
    }
    assert differences == {}
    # And what uv sets is set.
    (venv,) = sandbox.envs()
    assert env_fast["VIRTUAL_ENV"] == str(venv)
    assert env_fast["PATH"].split(os.pathsep)[0] == str(venv / "bin")
    assert env_fast["UV"] == str(uv_copy)
    depth = int(extra.get("UV_RUN_RECURSION_DEPTH", "0"))
    assert env_fast["UV_RUN_RECURSION_DEPTH"] == str(depth + 1)
    if "CONDA_PREFIX" in extra:
        assert env_fast["CONDA_PREFIX"] == extra["CONDA_PREFIX"]


def test_child_environment_matches_plain_uv_run(sandbox: Sandbox) -> None:
    """Against `uv run --script` itself: only the environment's location differs."""
    script = sandbox.script("show.py", body=ENV_REPORT)
    sandbox.run(str(script), "0", input="")
    ours = json.loads(sandbox.run(str(script), "0", input="").stdout)["environ"]
    uvs = json.loads(sandbox.uv("run", "--script", str(script), "0").stdout)["environ"]
    (venv,) = sandbox.envs()
    uv_venv = uvs["VIRTUAL_ENV"]
    assert uv_venv != str(venv)
    normalised = {k: v.replace(uv_venv, str(venv)) for k, v in uvs.items()}
    assert ours == normalised


# -- what must go through uv does ----------------------------------------------------


def test_warm_start_takes_the_fast_path(sandbox: Sandbox, uv_copy: Path) -> None:
    script = sandbox.script()
    assert path_taken(sandbox, uv_copy, script) == "slow"  # no environment yet
    launched(sandbox, script)
    assert path_taken(sandbox, uv_copy, script) == warm(sandbox)
    assert path_taken(sandbox, uv_copy, script, "run") == "python"  # native: not `run`


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_no_fast_path_always_goes_through_uv(sandbox: Sandbox, uv_copy: Path, how: str) -> None:
    script = sandbox.script()
    launched(sandbox, script)
    if how == "flag":
        assert path_taken(sandbox, uv_copy, script, "--no-fast-path") == "slow"
    else:
        env = {**sandbox.env, "UVLAUNCH_NO_FAST_PATH": "1"}
        assert path_taken(sandbox, uv_copy, script, env=env) == "slow"


def test_block_edited_goes_through_uv(sandbox: Sandbox, uv_copy: Path) -> None:
    script = sandbox.script(deps=["alpha"])
    assert launched(sandbox, script)["alpha"] == "2.0"
    script.write_text(make_script(deps=["alpha<2"]))  # in place: same inode
    assert path_taken(sandbox, uv_copy, script) == "slow"
    assert launched(sandbox, script)["alpha"] == "1.0"
    assert path_taken(sandbox, uv_copy, script) == warm(sandbox)


def test_lock_file_added_goes_through_uv(sandbox: Sandbox, uv_copy: Path) -> None:
    script = sandbox.script()
    launched(sandbox, script)
    locked = sandbox.uv("lock", "--script", str(script))
    assert locked.returncode == 0, locked.stderr
    assert Path(f"{script}.lock").exists()
    assert path_taken(sandbox, uv_copy, script) == "slow"
    launched(sandbox, script)
    assert path_taken(sandbox, uv_copy, script) == warm(sandbox)


def test_interpreter_removed_goes_through_uv(sandbox: Sandbox, uv_copy: Path) -> None:
    script = sandbox.script()
    launched(sandbox, script)
    (venv,) = sandbox.envs()
    python = venv / "bin" / "python"
    python.unlink()
    python.symlink_to(sandbox.root / "gone" / "python3")  # dangling, as after an upgrade
    assert path_taken(sandbox, uv_copy, script) == "slow"
    again = launched(sandbox, script)
    assert again["alpha"] == "2.0"
    assert Path(str(again["executable"])).resolve().exists()
    assert path_taken(sandbox, uv_copy, script) == warm(sandbox)


@pytest.mark.parametrize("how", ["replaced", "touched"])
def test_uv_upgraded_goes_through_uv(sandbox: Sandbox, uv_copy: Path, how: str) -> None:
    script = sandbox.script()
    launched(sandbox, script)
    assert path_taken(sandbox, uv_copy, script) == warm(sandbox)
    if how == "replaced":  # what an upgrade does: a new file renamed over the old one
        new = uv_copy.with_name("uv.new")
        shutil.copy(UV, new)
        new.chmod(0o755)
        os.replace(new, uv_copy)
    else:
        later = time.time() + 5
        os.utime(uv_copy, (later, later))
    assert path_taken(sandbox, uv_copy, script) == "slow"
    launched(sandbox, script)  # through `uv run`, which records the new uv
    assert path_taken(sandbox, uv_copy, script) == warm(sandbox)


def test_edit_below_the_block_stays_on_the_fast_path(sandbox: Sandbox, uv_copy: Path) -> None:
    """The block is compared (Python), the record refreshed: native again from the next start."""
    script = sandbox.script()
    launched(sandbox, script)
    with open(script, "a") as f:  # an in-place edit: same inode, new size and mtime
        f.write('print(json.dumps({"edited": True}))\n')
    st = script.stat()
    record = Path(paths.warm_path(str(sandbox.home), st.st_dev, st.st_ino))
    assert f"{st.st_size}:{st.st_mtime_ns}".encode() not in record.read_bytes()
    assert path_taken(sandbox, uv_copy, script) == "python"
    assert f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}".encode() in record.read_bytes()
    assert path_taken(sandbox, uv_copy, script) == warm(sandbox)
    uv_copy.chmod(0o644)
    try:
        with must_be_warm(sandbox):
            proc = sandbox.run(str(script))
    finally:
        uv_copy.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"edited": True}


@pytest.mark.parametrize("how", ["touched", "chmod"])
def test_touch_or_chmod_stays_on_the_fast_path(sandbox: Sandbox, uv_copy: Path, how: str) -> None:
    script = sandbox.script()
    launched(sandbox, script)
    if how == "touched":
        later = time.time() + 5
        os.utime(script, (later, later))
    else:
        script.chmod(0o700)
    assert path_taken(sandbox, uv_copy, script) == "python"
    assert path_taken(sandbox, uv_copy, script) == warm(sandbox)


def test_hard_link_takes_the_fast_path(sandbox: Sandbox, uv_copy: Path) -> None:
    script = sandbox.script()
    launched(sandbox, script)
    other = sandbox.scripts / "linked.py"
    os.link(script, other)
    seen = report(sandbox.run(str(other)))
    assert seen["argv"] == [str(other)]
    assert path_taken(sandbox, uv_copy, other) == warm(sandbox)


def test_atomic_save_takes_the_slow_path_once(sandbox: Sandbox, uv_copy: Path) -> None:
    """An editor's save makes a new inode: the slow path records it, then it is warm again."""
    script = sandbox.script()
    launched(sandbox, script)
    tmp = script.with_name(".script.py.swp")
    tmp.write_text(script.read_text() + "# saved\n")
    tmp.chmod(0o755)
    os.replace(tmp, script)
    assert path_taken(sandbox, uv_copy, script) == "slow"
    launched(sandbox, script)
    assert path_taken(sandbox, uv_copy, script) == warm(sandbox)


# -- the script is not uv's child ------------------------------------------------------


def test_uv_cache_prune_does_not_wait_for_a_running_script(sandbox: Sandbox) -> None:
    body = "import sys\nprint('started', flush=True)\nsys.stdin.readline()\n"
    script = sandbox.script("sleeper.py", body=body)
    assert sandbox.run(str(script), input="").returncode == 0  # creates the environment
    with in_background([str(script)], cwd=sandbox.scripts, env=sandbox.env) as running:
        t0 = time.monotonic()
        # (A prune that waited for the script would wait for ever: it waits on its stdin.)
        pruned = sandbox.capture([UV, "cache", "prune"], timeout=60)
        took = time.monotonic() - t0
        assert pruned.returncode == 0, pruned.stderr
        assert running.running(), "the script ended before the prune: the test proves nothing"
        assert took < 2, f"`uv cache prune` waited {took:.1f} s for a running script"
        running.finish()
        assert running.returncode == 0
