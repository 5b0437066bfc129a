"""Use seen even where the home cannot be written (issue 25, item 8): home/usage.py.

A launch touches its generation's stamp, which is how ``list`` and ``gc --unused-for``
know when it was last used. From a home mounted read-only (systemd's
``ProtectHome=read-only``, a read-only container) that touch fails; the launch records
its use in the state directory instead, and gc counts it. The read-only home is a
read-only bind mount in a mount namespace of the test's own (``unshare -m``): as root,
``chmod`` would not stop a write.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Sandbox, must_be_warm, report, use_launcher

from uvlaunch.errors import HomeError
from uvlaunch.home import usage

DAY = 86400


# -- the quick tier: where use is recorded, and what is trusted ----------------------


def test_the_state_directory_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("UVLAUNCH_STATE_DIR", "XDG_STATE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert usage.state_dir() == str(tmp_path / "h" / ".local" / "state" / "uvlaunch")
    monkeypatch.setenv("XDG_STATE_HOME", "relative")  # ignored, as the spec says
    assert usage.state_dir() == str(tmp_path / "h" / ".local" / "state" / "uvlaunch")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert usage.state_dir() == str(tmp_path / "xdg" / "uvlaunch")
    monkeypatch.setenv("UVLAUNCH_STATE_DIR", str(tmp_path / "mine"))
    assert usage.state_dir() == str(tmp_path / "mine")
    monkeypatch.setenv("UVLAUNCH_STATE_DIR", "relative")
    with pytest.raises(HomeError, match="UVLAUNCH_STATE_DIR=relative: must be an absolute"):
        usage.state_dir()
    usage.record(str(tmp_path / "home"), "tool-0123456789", "current")  # a launch goes on


def test_use_is_recorded_per_home_environment_and_pointer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("UVLAUNCH_STATE_DIR", str(tmp_path / "state"))
    home, other = str(tmp_path / "home"), str(tmp_path / "other")
    assert usage.last_used(home, "tool-0123456789", "current") is None
    before = time.time()
    usage.record(home, "tool-0123456789", "current")
    used = usage.last_used(home, "tool-0123456789", "current")
    assert used is not None and used >= before - 1
    assert usage.last_used(other, "tool-0123456789", "current") is None
    assert usage.last_used(home, "tool-0123456789", "current-0123abcd") is None
    assert usage.last_used(home, "tool-9876543210", "current") is None
    state = tmp_path / "state"
    assert stat_mode(state) == 0o700


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_state_directory_others_can_write_is_neither_written_nor_believed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("UVLAUNCH_STATE_DIR", str(state))
    home = str(tmp_path / "home")
    usage.record(home, "tool-0123456789", "current")
    assert usage.last_used(home, "tool-0123456789", "current") is not None
    state.chmod(0o777)
    assert usage.last_used(home, "tool-0123456789", "current") is None
    usage.record(home, "tool-9876543210", "current")
    assert usage.last_used(home, "tool-9876543210", "current") is None
    state.chmod(0o700)
    # A symlink where the record goes is not followed.
    (used,) = (p for p in state.rglob("tool-0123456789*"))
    target = tmp_path / "elsewhere"
    target.write_text("")
    os.utime(target, (1, 1))
    used.unlink()
    used.symlink_to(target)
    usage.record(home, "tool-0123456789", "current")
    assert target.stat().st_mtime == 1
    assert usage.last_used(home, "tool-0123456789", "current") is None


def test_nothing_is_recorded_for_a_name_that_is_not_safe(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("UVLAUNCH_STATE_DIR", str(tmp_path / "state"))
    for name, which in (("../x", "current"), ("tool", "current/../../x"), ("tool", "previous")):
        usage.record(str(tmp_path / "home"), name, which)
    assert not (tmp_path / "state").exists() or not any(
        p.is_file() for p in (tmp_path / "state").rglob("*")
    )


# -- end to end: a launch from a read-only home, gc where it is writable ---------------


def read_only_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "a read-only bind mount needs Linux mount namespaces"
    if os.geteuid() != 0:
        return "a read-only bind mount needs root (unshare -m, mount); chmod does not stop root"
    for tool in ("unshare", "mount"):
        if shutil.which(tool) is None:
            return f"a read-only bind mount needs {tool} (util-linux)"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"unshare -m fails here: {probe.stderr.decode(errors='replace').strip()}"
    return None


MOUNT_RO = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'


def from_read_only_home(sandbox: Sandbox, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a mount namespace where the uvlaunch home is read-only."""
    return sandbox.capture(["unshare", "-m", "sh", "-c", MOUNT_RO, "sh", str(sandbox.home), *argv])


@pytest.fixture(params=["native", "python", "slow"])
def how(request: pytest.FixtureRequest, sandbox: Sandbox) -> str:
    """Each launch path, each of which starts an up-to-date environment from a read-only
    home: the native launcher, the Python fast path and the slow path (readonly.py)."""
    reason = read_only_reason()
    if reason is not None:
        pytest.skip(reason)
    use_launcher(sandbox, "python" if request.param == "slow" else str(request.param))
    if request.param == "slow":
        sandbox.env["UVLAUNCH_NO_FAST_PATH"] = "1"
    return str(request.param)


def age(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


def env_states(sandbox: Sandbox) -> dict[str, object]:
    proc = sandbox.run("list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {e["name"]: e for e in json.loads(proc.stdout)}


@pytest.mark.parametrize("setting", ["default", "XDG_STATE_HOME", "UVLAUNCH_STATE_DIR"])
def test_a_launch_from_a_read_only_home_counts_as_use(
    sandbox: Sandbox, how: str, setting: str
) -> None:
    state = sandbox.root / "user-home" / ".local" / "state" / "uvlaunch"
    if setting == "XDG_STATE_HOME":
        sandbox.env[setting] = str(sandbox.root / "xdg-state")
        state = sandbox.root / "xdg-state" / "uvlaunch"
    elif setting == "UVLAUNCH_STATE_DIR":
        state = sandbox.root / "state"
        sandbox.env[setting] = str(state)
    script = sandbox.script("daily.py")
    first = report(sandbox.run(str(script)))  # built where the home is writable
    report(sandbox.run(str(script)))
    stamp = Path(str(first["prefix"])) / "uvlaunch-stamp"
    age(stamp, 10)  # last launched ten days ago
    before = stamp.stat().st_mtime
    with must_be_warm(sandbox):  # the native launcher records it without Python
        ran = from_read_only_home(sandbox, sandbox.command, str(script))
    assert report(ran)["prefix"] == first["prefix"]
    assert stamp.stat().st_mtime == before  # the home was not written
    (name,) = env_states(sandbox)
    top = state / "used" / usage.home_key(str(sandbox.home))
    assert (top / "home").read_text() == f"{sandbox.home}\n"
    assert sorted(p.name for p in top.iterdir()) == [f"{name}.current", "home"]
    assert stat_mode(state) == stat_mode(top) == 0o700
    # gc, where the home is writable, counts that use.
    assert env_states(sandbox)[name]["last_launched"] > time.time() - DAY  # type: ignore[operator]
    proc = sandbox.run("gc", "--unused-for", "5d")
    assert proc.returncode == 0, proc.stderr
    assert "removed" not in proc.stdout, proc.stdout
    assert Path(str(first["prefix"])).is_dir()
    # It was that record: aged too, the environment is unused, and goes.
    for p in state.rglob("*"):
        if p.is_file():
            age(p, 10)
    proc = sandbox.run("gc", "--unused-for", "5d")
    assert f"removed {name}" in proc.stdout, proc.stdout
