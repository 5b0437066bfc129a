"""One home, many machines: each machine keeps its own environment (docs/how-it-works.md,
"Many machines, one home"), simulated with two mount namespaces (tests/machines.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Sandbox, make_script, must_be_warm, use_launcher
from machines import Machine, skip_reason, two_machines

REASON = skip_reason("3.11", "3.12")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture(params=["native", "python"])
def machines(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[tuple[Machine, Machine]]:
    use_launcher(sandbox, request.param)
    a, b = two_machines(sandbox)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def write_script(sandbox: Sandbox, name: str = "job.py") -> Path:
    """A script in the shared folder (written through the real path); its shared path."""
    real = sandbox.root / "real" / "scripts" / name
    real.write_text(make_script())
    real.chmod(0o755)
    return sandbox.scripts / name


def launch(machine: Machine, script: Path) -> tuple[dict[str, object], str]:
    proc = machine.run([str(script)])
    assert proc.returncode == 0, f"{machine.label}: {proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_the_shared_folder_has_one_inode_and_two_devices(
    sandbox: Sandbox, machines: tuple[Machine, Machine]
) -> None:
    a, b = machines
    script = write_script(sandbox)
    (dev_a, ino_a), (dev_b, ino_b) = a.stat(script), b.stat(script)
    assert ino_a == ino_b and dev_a != dev_b
    assert a.run(["test", "-x", a.python]).returncode == 0
    assert b.run(["test", "-e", a.python]).returncode != 0


def test_each_machine_keeps_its_own_environment(
    sandbox: Sandbox, machines: tuple[Machine, Machine]
) -> None:
    a, b = machines
    script = write_script(sandbox)
    first_a, _ = launch(a, script)
    first_b, err_b = launch(b, script)
    assert "rebuilding" not in err_b
    assert "building its environment for this machine's Python" in err_b
    assert first_a["prefix"] != first_b["prefix"]
    # The cache is on the local disk, the home on the shared folder: copies, no warning.
    assert "Failed to hardlink" not in err_b
    for _ in range(2):
        # Warm on both (the native launcher takes them itself): each machine has its
        # own warm record (another st_dev), naming its own variant.
        with must_be_warm(sandbox):
            again_a, err_a = launch(a, script)
            again_b, err_b = launch(b, script)
        # The same generation every time: nobody rebuilds anybody's environment.
        assert again_a["prefix"] == first_a["prefix"], err_a
        assert again_b["prefix"] == first_b["prefix"], err_b
        assert err_a == err_b == ""
    assert str(first_a["executable"]).endswith("/bin/python")
    version = a.run([str(Path(str(first_a["prefix"])) / "bin" / "python"), "-V"]).stdout
    assert version.startswith("Python 3.11")


def test_gc_and_where_on_one_machine_leave_the_other_machines_environment(
    sandbox: Sandbox, machines: tuple[Machine, Machine]
) -> None:
    a, b = machines
    script = write_script(sandbox)
    on_a, _ = launch(a, script)
    on_b, _ = launch(b, script)
    for machine, seen in ((a, on_a), (b, on_b)):
        where = machine.run([sandbox.command, "where", "--json", str(script)])
        data = json.loads(where.stdout)
        assert data["generation"] == seen["prefix"], where.stdout
        # This machine's own pointer, current or current-KEY: the path lasts.
        assert os.path.basename(data["environment"]).startswith("current"), where.stdout
    show = b.run([sandbox.command, "show", str(script)]).stdout
    assert "(on this machine)" in show and "(not on this machine)" in show, show
    assert "state:         live" in show, show
    listed = b.run([sandbox.command, "list"]).stdout
    assert "(elsewhere)" in listed and " live " in listed, listed
    assert a.run([sandbox.command, "gc"]).returncode == 0
    assert b.run([sandbox.command, "gc"]).returncode == 0
    with must_be_warm(sandbox):
        assert launch(a, script)[0]["prefix"] == on_a["prefix"]
        assert launch(b, script)[0]["prefix"] == on_b["prefix"]
    # An upgrade acts on this machine's environment only.
    assert b.run([sandbox.command, "reinstall", str(script)]).returncode == 0
    assert launch(b, script)[0]["prefix"] != on_b["prefix"]
    assert launch(a, script)[0]["prefix"] == on_a["prefix"]
