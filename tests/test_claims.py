"""The build claim (building/claims.py), the use marks and the host identity
(building/machines.py) on one machine: what another machine left is honoured."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import Sandbox, report

from uvlaunch.building import machines


def _name(sandbox: Sandbox, script: Path) -> str:
    where = Path(sandbox.run("where", str(script)).stdout.strip())
    return where.relative_to(sandbox.home / "envs").parts[0]


@pytest.mark.parametrize("launch_path", ["native", "python", "slow"], indirect=True)
def test_a_claim_of_another_machine_is_waited_for_then_built_beside(
    sandbox: Sandbox, launch_path: str
) -> None:
    script = sandbox.script("job.py")
    report(sandbox.run(str(script)))
    top = sandbox.home / "envs" / _name(sandbox, script)
    sandbox.script("job.py", deps=("alpha", "beta"))  # an edit: a build
    claim = top / "claim"
    claim.write_text("elsewhere 0000 1\n4242\n")  # another machine, building
    started = time.monotonic()
    proc = sandbox.run(str(script), env=dict(sandbox.env, UVLAUNCH_BUILD_WAIT="1"))
    assert time.monotonic() - started >= 1
    report(proc)
    assert "waiting for elsewhere, which is building its environment" in proc.stderr
    assert "building beside it" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert claim.read_text() == "elsewhere 0000 1\n4242\n"  # never taken over
    # Its own claim, left by a killed launch here, is this machine's to drop.
    claim.unlink()
    again = sandbox.run(str(script))
    report(again)
    assert "waiting" not in again.stderr


def test_a_claim_this_machine_left_is_taken_over(sandbox: Sandbox) -> None:
    script = sandbox.script("job.py")
    report(sandbox.run(str(script)))
    top = sandbox.home / "envs" / _name(sandbox, script)
    sandbox.script("job.py", deps=("alpha", "beta"))
    (top / "claim").write_text(f"{machines.host()}\n1\n")
    proc = sandbox.run(str(script))
    report(proc)
    assert "waiting" not in proc.stderr
    assert not (top / "claim").exists()


def test_gc_keeps_a_generation_another_machine_used_lately(sandbox: Sandbox) -> None:
    script = sandbox.script("job.py")
    report(sandbox.run(str(script)))
    assert sandbox.run("reinstall", str(script)).returncode == 0
    top = sandbox.home / "envs" / _name(sandbox, script)
    # Another machine runs a script in g1, kept for rollback until the next reinstall.
    (top / "uses").mkdir(exist_ok=True)
    mark = top / "uses" / "g1-0123456789ab"
    mark.touch()
    assert sandbox.run("reinstall", str(script)).returncode == 0
    assert (top / "g1").is_dir()  # old now, but used elsewhere
    gc = sandbox.run("gc", "--json")
    assert (top / "g1").is_dir(), gc.stdout
    assert any("g1" in s["name"] for s in json.loads(gc.stdout)["skipped"])
    # Past the grace it goes, and its marks with it.
    old = time.time() - machines.GRACE - 60
    os.utime(mark, (old, old))
    os.utime(top / "g1" / "uvlaunch-stamp", (old, old))
    assert sandbox.run("gc").returncode == 0
    assert not (top / "g1").exists() and not mark.exists()


def test_the_host_identity_is_more_than_a_hostname() -> None:
    import socket

    identity = machines.host()
    assert identity.split(" ")[0] == socket.gethostname()
    assert len(identity.split(" ")) == 3 and identity.split(" ")[1] != "-"
    assert len(machines.host_key()) == 12


def test_a_claim_that_cannot_be_read_is_waited_for_to_the_deadline(sandbox: Sandbox) -> None:
    script = sandbox.script("job.py")
    report(sandbox.run(str(script)))
    top = sandbox.home / "envs" / _name(sandbox, script)
    sandbox.script("job.py", deps=("alpha", "beta"))
    (top / "claim").mkdir()  # there, and no text in it
    proc = sandbox.run(str(script), env=dict(sandbox.env, UVLAUNCH_BUILD_WAIT="1"))
    report(proc)
    assert "waiting for another machine" in proc.stderr
    assert "building beside it" in proc.stderr
    assert (top / "claim").is_dir()
