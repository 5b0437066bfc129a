"""Unattended use (cron, systemd, sudo): no terminal, a bare environment, a HOME that
cannot be written. What fails says why; what waits is quiet (docs/unattended.md).
"""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import Sandbox, assert_one_line_error, execute, make_script, read_only, use_launcher

# The three ways a launch proceeds: the native launcher, the Python fast path, the slow path.
LAUNCH_PATHS = ["native", "python", "slow"]


def on_path(sandbox: Sandbox, path: str) -> dict[str, str]:
    """Make ``path`` the sandbox's way of launching; the environment to launch with."""
    use_launcher(sandbox, "python" if path == "slow" else path)
    return {**sandbox.env, "UVLAUNCH_NO_FAST_PATH": "1"} if path == "slow" else sandbox.env


@pytest.mark.parametrize("path", LAUNCH_PATHS)
@pytest.mark.parametrize("requires", [">=3.8", None])
def test_a_cache_uv_cannot_make_is_named_as_the_cause(
    sandbox: Sandbox, path: str, requires: str | None
) -> None:
    """A service whose HOME is not a writable directory, and no UV_CACHE_DIR: the error
    is uv's cache, and what to set, not "no installed Python satisfies requires-python"."""
    env = on_path(sandbox, path)
    env = {k: v for k, v in env.items() if k != "UV_CACHE_DIR"}
    env["HOME"] = "/dev/null"  # not a directory: no cache under it, even for root
    script = sandbox.script("job.py", deps=[], requires_python=requires)
    line = assert_one_line_error(execute(sandbox, script, env=env), str(script), "UV_CACHE_DIR")
    assert "uv cannot use its cache" in line and "/dev/null/.cache/uv" in line
    assert "no installed Python" not in line


# -- waiting for another launch's build -----------------------------------------------


def _blocked_on(path: Path) -> bool:
    """Whether a process waits (blocked) for a flock on the file ``path`` (/proc/locks)."""
    ino = f":{path.stat().st_ino} "
    with open("/proc/locks", encoding="ascii") as f:
        return any("->" in line and ino in line for line in f)


@contextmanager
def lock_held(path: Path) -> Iterator[None]:
    """Hold the flock ``path`` as a launch building the environment holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _waiting_launch(sandbox: Sandbox, path: str, *options: str) -> tuple[str, float]:
    """A launch that must sync while its environment's lock is held: its stderr, and how
    long after its start it said it waits (inf: it never said so)."""
    if not Path("/proc/locks").exists():
        pytest.skip("needs /proc/locks to see a process wait for a lock")
    env = on_path(sandbox, path)
    script = sandbox.script("job.py", deps=["alpha"])
    assert execute(sandbox, script, env=env).returncode == 0
    name = Path(sandbox.run("where", str(script)).stdout.strip()).parent.name
    lock = sandbox.home / "locks" / f"{name}.lock"
    script.write_text(make_script(deps=["alpha", "beta"]))  # it must sync: the slow path
    with lock_held(lock):
        start = time.monotonic()
        proc = subprocess.Popen(
            [sandbox.command, *options, str(script)],
            cwd=sandbox.scripts,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        fd = proc.stderr.fileno()
        said = float("inf")
        err = b""
        while not _blocked_on(lock):  # once it blocks on the lock itself, it says no more
            assert time.monotonic() < start + 60, "the launch never waited for the lock"
            assert proc.poll() is None, "the launch ended without the lock"
            if select.select([fd], [], [], 0.01)[0]:
                err += os.read(fd, 65536)
                if said == float("inf"):
                    said = time.monotonic() - start
        err += os.read(fd, 65536) if select.select([fd], [], [], 0)[0] else b""
        if err and said == float("inf"):
            said = time.monotonic() - start  # said just before it blocked
    while chunk := os.read(fd, 65536):
        err += chunk
    proc.wait(timeout=120)
    proc.stderr.close()
    text = err.decode()
    assert proc.returncode == 0, text
    return text, said


@pytest.mark.parametrize("path", LAUNCH_PATHS)
def test_a_wait_without_a_terminal_is_said_once_after_a_second(sandbox: Sandbox, path: str) -> None:
    """cron: twenty launches at once must not mail nineteen lines for a short wait."""
    err, said = _waiting_launch(sandbox, path)
    lines = [ln for ln in err.splitlines() if "waiting for" in ln]
    assert len(lines) == 1, err
    assert lines[0].endswith("which is creating, syncing or upgrading its environment"), err
    assert said >= 1.0, f"said after {said:.2f} s"


@pytest.mark.parametrize("path", LAUNCH_PATHS)
def test_quiet_silences_the_wait(sandbox: Sandbox, path: str) -> None:
    err, _ = _waiting_launch(sandbox, path, "-q")
    assert "waiting" not in err, err


# -- an installed command whose uvlaunch this user cannot reach ------------------------


def _run_command(command: Path, *, as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
    def drop() -> None:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    return subprocess.run(
        [str(command)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=drop if as_nobody else None,
        env={"PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory every user may enter (tmp_path's parents are private to its owner)."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="uvlaunch-test-", dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _command(where: Path, uvlaunch: Path) -> Path:
    from uvlaunch.manage import installed

    command = where / "tool"
    command.write_bytes(installed.text(str(uvlaunch), str(where / "tool.py"), "tool"))
    command.chmod(0o755)
    return command


def test_a_gone_uvlaunch_is_gone(public: Path) -> None:
    proc = _run_command(_command(public, public / "venv" / "bin" / "uvlaunch"))
    assert proc.returncode == 2
    assert proc.stderr.endswith(
        "is gone; install the command again with the uvlaunch you use now\n"
    )


def test_a_uvlaunch_that_cannot_be_run_is_not_gone(public: Path) -> None:
    uvlaunch = public / "uvlaunch"
    uvlaunch.write_text("#!/bin/sh\n")
    uvlaunch.chmod(0o644)  # there, but not executable (by root either)
    proc = _run_command(_command(public, uvlaunch))
    assert proc.returncode == 2
    assert "is gone" not in proc.stderr
    assert proc.stderr == (
        f"uvlaunch: error: {public}/tool: {uvlaunch} cannot be run by this user "
        "(check its permissions)\n"
    )


def test_a_private_uvlaunch_is_not_gone_for_another_user(public: Path) -> None:
    """A command in a shared bin directory from one user's private install (~ is 0700)."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to run the command as another user")
    private = public / "home-of-ada"
    uvlaunch = private / "venv" / "bin" / "uvlaunch"
    uvlaunch.parent.mkdir(parents=True)
    uvlaunch.write_text("#!/bin/sh\necho ran\n")
    uvlaunch.chmod(0o755)
    private.chmod(0o700)
    command = _command(public, uvlaunch)
    proc = _run_command(command, as_nobody=True)
    assert proc.returncode == 2
    assert "is gone" not in proc.stderr
    assert "cannot be run by this user" in proc.stderr
    assert _run_command(command).stdout == "ran\n"  # its owner runs it


# -- a read-only home (systemd's ProtectHome=read-only) ---------------------------------


@pytest.mark.parametrize("path", LAUNCH_PATHS)
def test_a_block_edit_on_a_read_only_home_says_the_edit_is_why(sandbox: Sandbox, path: str) -> None:
    env = on_path(sandbox, path)
    script = sandbox.script("job.py", deps=[], body="print('ran')")
    assert execute(sandbox, script, env=env).stdout == "ran\n"
    with read_only(sandbox.home):
        if path != "slow":  # a warm start writes nothing
            assert execute(sandbox, script, env=env).stdout == "ran\n"
        script.write_text(make_script(deps=["alpha"], body="print('ran')"))
        line = assert_one_line_error(execute(sandbox, script, env=env), str(script))
    assert "its block changed since its environment was synced" in line, line
    assert "read-only" in line.lower() and f"uvlaunch sync {script}" in line, line
