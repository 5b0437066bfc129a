"""upgrade, reinstall and rollback (issue 10), end to end against the real uv, offline.

Each test has a find-links directory of its own: a newer wheel appearing in it is an
upgrade that uv can see.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import (
    UVLAUNCH,
    Background,
    Sandbox,
    build_wheel,
    compiled,
    in_background,
    installed,
    report,
    site_packages,
)
from filelock import FileLock

VERSIONS = """\
import json
import alpha
try:
    import beta
    beta_version = beta.VERSION
except ImportError:
    beta_version = None
print(json.dumps({"alpha": alpha.VERSION, "beta": beta_version}))
"""


@pytest.fixture
def wheels(sandbox: Sandbox) -> Path:
    """A find-links directory of this test's own, holding alpha 1.0 and beta 1.0.

    And no index: offline, uv then still sees every release there is, so an upgrade
    does not say that it could only consider cached ones (test_messages.py).
    """
    d = sandbox.root / "wheels"
    d.mkdir()
    build_wheel(d, "alpha", "1.0")
    build_wheel(d, "beta", "1.0")
    sandbox.env["UV_FIND_LINKS"] = str(d)
    sandbox.env["UV_NO_INDEX"] = "1"
    return d


def versions(sandbox: Sandbox, script: Path) -> dict[str, object]:
    return report(sandbox.run(str(script)))


def env_of(sandbox: Sandbox, script: Path) -> tuple[str, Path]:
    """(name, the current generation) of the script's environment."""
    data = json.loads(sandbox.run("where", "--json", str(script)).stdout)
    return str(data["name"]), Path(data["generation"])


def generations(sandbox: Sandbox, script: Path) -> list[str]:
    """The generation directories of the script's environment, oldest first."""
    _, env = env_of(sandbox, script)
    return sorted((p.name for p in env.parent.glob("g*")), key=lambda g: int(g[1:]))


def upgrade(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    proc = sandbox.run("upgrade", *args)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_dry_run_shows_changes_and_changes_nothing(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha", "beta"), body=VERSIONS)
    assert versions(sandbox, script) == {"alpha": "1.0", "beta": "1.0"}
    _, env = env_of(sandbox, script)
    compiled(env)  # its background compiler writes site-packages/__pycache__ meanwhile
    before = sorted(p.name for p in site_packages(env).iterdir())
    assert upgrade(sandbox, "--dry-run", str(script)).stdout.strip() == f"{script}: unchanged"

    build_wheel(wheels, "alpha", "2.0")
    proc = upgrade(sandbox, "--dry-run", str(script))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"{script}: would change (1 package changed)",
        "  alpha 1.0 -> 2.0",
    ]
    data = json.loads(upgrade(sandbox, "--dry-run", "--json", str(script)).stdout)
    assert data[0]["status"] == "would change"
    assert data[0]["changes"] == [{"package": "alpha", "old": "1.0", "new": "2.0"}]
    assert sorted(p.name for p in site_packages(env).iterdir()) == before
    assert versions(sandbox, script) == {"alpha": "1.0", "beta": "1.0"}


def test_upgrade_then_rollback_after_cache_clean(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    versions(sandbox, script)
    name, env = env_of(sandbox, script)
    # An extra package the block does not list: an upgrade leaves the environment exact.
    extra = sandbox.uv("pip", "install", "--python", str(env / "bin" / "python"), "beta")
    assert extra.returncode == 0
    build_wheel(wheels, "alpha", "2.0")

    proc = upgrade(sandbox, str(script))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"{script}: upgraded (2 packages changed)"
    assert "  alpha 1.0 -> 2.0" in proc.stdout and "  beta 1.0 -> (none)" in proc.stdout
    assert versions(sandbox, script) == {"alpha": "2.0", "beta": None}
    assert installed(env_of(sandbox, script)[1]) == {"alpha"}
    assert installed(env) == {"alpha", "beta"}  # the generation before, kept as it was
    entry = json.loads(sandbox.run("list", "--json").stdout)
    assert len(entry) == 1 and entry[0]["rollback"] is True  # one environment, not two

    # The previous generation runs offline with no uv cache at all.
    assert sandbox.uv("cache", "clean").returncode == 0
    proc = sandbox.run("rollback", str(script))
    assert proc.returncode == 0, proc.stderr
    assert "alpha 2.0 -> 1.0" in proc.stdout
    assert versions(sandbox, script)["alpha"] == "1.0"
    # Rolling back again re-applies the upgrade.
    assert sandbox.run("rollback", name).returncode == 0
    assert versions(sandbox, script)["alpha"] == "2.0"


def test_rollback_without_upgrade_is_one_line(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    versions(sandbox, script)
    proc = sandbox.run("rollback", str(script))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "no earlier generation to roll back to" in proc.stderr
    assert json.loads(sandbox.run("list", "--json").stdout)[0]["rollback"] is False


def test_upgrade_package_upgrades_only_that(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha", "beta"), body=VERSIONS)
    versions(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")
    build_wheel(wheels, "beta", "2.0")
    proc = upgrade(sandbox, "--package", "beta", str(script))
    assert proc.returncode == 0, proc.stderr
    assert versions(sandbox, script) == {"alpha": "1.0", "beta": "2.0"}
    proc = upgrade(sandbox, str(script))
    assert versions(sandbox, script) == {"alpha": "2.0", "beta": "2.0"}


def test_upgrade_honours_tool_uv_in_the_block(sandbox: Sandbox, wheels: Path) -> None:
    text = sandbox.script(deps=("alpha",), body=VERSIONS).read_text()
    text = text.replace(
        "# ///\n", '# [tool.uv]\n# constraint-dependencies = ["alpha<2"]\n# ///\n', 1
    )
    script = sandbox.scripts / "script.py"
    script.write_text(text)
    versions(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")
    proc = upgrade(sandbox, str(script))
    assert proc.returncode == 0 and proc.stdout.strip() == f"{script}: unchanged", proc.stdout
    assert versions(sandbox, script)["alpha"] == "1.0"


def test_failed_upgrade_keeps_the_environment_offline(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    versions(sandbox, script)
    _, env = env_of(sandbox, script)
    compiled(env)  # its background compiler has finished writing into it
    before = sorted(str(p.relative_to(env)) for p in env.rglob("*"))
    # A newer version that resolves but cannot be installed: its wheel's code is damaged
    # (a CRC mismatch), though its metadata reads fine.
    wheel = build_wheel(wheels, "alpha", "3.0", body="VERSION = '3.0'  # MARKER-MARKER\n")
    data = wheel.read_bytes()
    assert data.count(b"MARKER-MARKER") == 1
    wheel.write_bytes(data.replace(b"MARKER-MARKER", b"DAMAGED-BYTES"))
    proc = upgrade(sandbox, str(script))
    assert proc.returncode == 1, proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: failed: "), proc.stderr
    assert "the environment was left as it was" in lines[0]
    assert sorted(str(p.relative_to(env)) for p in env.rglob("*")) == before
    assert generations(sandbox, script) == ["g1"]  # the failed one is gone
    shutil.rmtree(wheels)  # and it still runs offline, with nothing to install from
    assert versions(sandbox, script)["alpha"] == "1.0"


def test_locked_script_is_left_to_its_lock(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    assert sandbox.uv("lock", "--script", str(script)).returncode == 0
    versions(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")
    proc = upgrade(sandbox, str(script))
    assert proc.returncode == 0, proc.stderr
    assert "skipped (locked)" in proc.stdout
    assert f"uv lock --script --upgrade {script}" in proc.stdout
    assert versions(sandbox, script)["alpha"] == "1.0"
    # Once the lock changes, the next launch follows it.
    assert sandbox.uv("lock", "--script", str(script), "--upgrade").returncode == 0
    assert versions(sandbox, script)["alpha"] == "2.0"


def test_reinstall_repairs_and_keeps_versions(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    versions(sandbox, script)
    _, env = env_of(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")  # available, but a reinstall does not upgrade
    shutil.rmtree(site_packages(env) / "alpha")
    assert "ModuleNotFoundError" in sandbox.run(str(script)).stderr
    proc = sandbox.run("reinstall", str(script))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"{script}: reinstalled"
    assert versions(sandbox, script)["alpha"] == "1.0"
    assert sandbox.run("rollback", str(script)).returncode == 0  # back to the damaged one
    assert "ModuleNotFoundError" in sandbox.run(str(script)).stderr


def test_all_reports_each_and_a_summary(sandbox: Sandbox, wheels: Path) -> None:
    old = sandbox.script("old.py", deps=("alpha",), body=VERSIONS)
    same = sandbox.script("same.py", deps=("beta",), body="print('same')")
    locked = sandbox.script("locked.py", deps=("alpha",), body=VERSIONS)
    busy = sandbox.script("busy.py", deps=("alpha",), body=VERSIONS)
    assert sandbox.uv("lock", "--script", str(locked)).returncode == 0
    for script in (old, same, locked, busy):
        assert sandbox.run(str(script)).returncode == 0
    build_wheel(wheels, "alpha", "2.0")
    busy_name, _ = env_of(sandbox, busy)
    with FileLock(str(sandbox.home / "locks" / f"{busy_name}.lock")).acquire(timeout=5):
        proc = upgrade(sandbox, "--all")
    assert proc.returncode == 1
    assert f"{old}: upgraded (1 package changed)" in proc.stdout
    assert f"{same}: unchanged" in proc.stdout
    assert f"{locked}: skipped (locked)" in proc.stdout
    # A holder that said nothing of itself (this test's FileLock) is "another uvlaunch".
    assert f"{busy}: skipped (busy): another uvlaunch, which is creating" in proc.stderr
    assert proc.stdout.splitlines()[-1] == "1 busy, 1 locked, 1 unchanged, 1 upgraded" or (
        sorted(proc.stdout.splitlines()[-1].split(", "))
        == ["1 busy", "1 locked", "1 unchanged", "1 upgraded"]
    )
    assert versions(sandbox, old)["alpha"] == "2.0"
    assert versions(sandbox, busy)["alpha"] == "1.0"
    # A script deleted since: skipped and pointed to gc, not a failure.
    gone = sandbox.script("gone.py", deps=("alpha",), body=VERSIONS)
    assert sandbox.run(str(gone)).returncode == 0
    gone.unlink()
    proc = upgrade(sandbox, "--all", "--json")
    assert proc.returncode == 0, proc.stdout
    statuses = {d["script"]: d["status"] for d in json.loads(proc.stdout)}
    assert statuses == {
        str(old): "unchanged",
        str(same): "unchanged",
        str(locked): "locked",
        str(busy): "upgraded",
        str(gone): "gone",
    }
    assert "skipped (gone): its script is gone; `uvlaunch gc`" in upgrade(sandbox, "--all").stdout


def test_unknown_target_changes_nothing(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    versions(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")
    proc = upgrade(sandbox, str(script), "no-such-env")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "no-such-env: no managed environment" in proc.stderr
    assert versions(sandbox, script)["alpha"] == "1.0"
    for args in ((), ("--all", str(script))):
        proc = upgrade(sandbox, *args)
        # Usage errors: the short usage, a pointer to the help, the error (issue 19).
        assert proc.returncode == 2 and proc.stderr.startswith("Usage: uvlaunch upgrade "), (
            proc.stderr
        )
        assert proc.stderr.splitlines()[-1].startswith("uvlaunch: error: give ")


def test_remove_and_gc_take_the_previous_generation(sandbox: Sandbox, wheels: Path) -> None:
    keep = sandbox.script("keep.py", deps=("alpha",), body=VERSIONS)
    gone = sandbox.script("gone.py", deps=("alpha",), body=VERSIONS)
    versions(sandbox, keep)
    versions(sandbox, gone)
    build_wheel(wheels, "alpha", "2.0")
    assert upgrade(sandbox, "--all").returncode == 0
    assert generations(sandbox, keep) == generations(sandbox, gone) == ["g1", "g2"]
    assert sandbox.run("remove", str(keep)).returncode == 0
    gone.unlink()
    assert sandbox.run("gc").returncode == 0
    assert sandbox.env_dirs() == []


def test_an_upgrade_killed_before_its_flip_changes_nothing(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    versions(sandbox, script)
    _, env = env_of(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")
    up = subprocess.Popen(
        [UVLAUNCH, "upgrade", str(script)],
        env=sandbox.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    half = env.parent / "g2"
    deadline = time.monotonic() + 60
    while not (half / "pyvenv.cfg").exists() and up.poll() is None:
        assert time.monotonic() < deadline, "the upgrade never started its generation"
        time.sleep(0.001)
    os.killpg(up.pid, signal.SIGKILL)  # uv with it
    up.wait(60)
    # The current generation is whole and runs; the half-built one is gc's.
    assert os.readlink(env.parent / "current") == "g1"
    assert versions(sandbox, script)["alpha"] == "1.0"
    assert sandbox.run("gc").returncode == 0
    assert generations(sandbox, script) == ["g1"]
    assert upgrade(sandbox, str(script)).returncode == 0
    assert versions(sandbox, script)["alpha"] == "2.0"


def test_launches_racing_an_upgrade_never_fail(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    versions(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")
    seen: set[object] = set()
    for _ in range(3):
        up = subprocess.Popen(
            [UVLAUNCH, "upgrade", str(script)],
            env=sandbox.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        launches = 0
        while up.poll() is None or launches < 3:
            proc = sandbox.run(str(script))
            assert proc.returncode == 0, proc.stderr
            seen.add(json.loads(proc.stdout)["alpha"])
            launches += 1
        assert up.wait(60) == 0, up.stderr.read() if up.stderr else ""
        assert sandbox.run("rollback", str(script)).returncode == 0
        time.sleep(0.01)
    assert seen <= {"1.0", "2.0"} and "1.0" in seen
    # Nothing half-built is left: the current generation and the one kept for rollback
    # (and at most generations that no script used, which gc deletes).
    assert sandbox.run("gc").returncode == 0
    assert len(generations(sandbox, script)) == 2


def test_rollback_after_an_edit_follows_the_block(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    versions(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")
    assert upgrade(sandbox, str(script)).returncode == 0
    script.write_text(script.read_text().replace('["alpha"]', '["alpha", "beta"]'))
    assert versions(sandbox, script) == {"alpha": "2.0", "beta": "1.0"}
    # The generation put back was synced for the old block: the next start, native or
    # not, must not take it as it is, but sync it for the block the script has now.
    assert sandbox.run("rollback", str(script)).returncode == 0
    assert versions(sandbox, script)["beta"] == "1.0"
    assert versions(sandbox, script)["beta"] == "1.0"


# -- generations: nothing waits for a running script ----------------------------------

WAITS = """\
import json, sys
print(json.dumps({"prefix": sys.prefix}), flush=True)
sys.stdin.readline()  # the test lets it go on
import alpha  # a lazy import: after every flip below
print(json.dumps({"alpha": alpha.VERSION, "prefix": sys.prefix}), flush=True)
"""


def start_waiting(sandbox: Sandbox, script: Path) -> tuple[Background, str]:
    """Start ``script`` (WAITS), return it and its sys.prefix once it is running.

    Not left as a context: ``finish`` lets it go, and a test that fails first closes its
    stdin when it ends, which lets it go too.
    """
    context = in_background([sandbox.command, str(script)], env=sandbox.env, ready="{")
    started = context.__enter__()
    started.context = context  # type: ignore[attr-defined]  # closed (killing it) when collected
    return started, json.loads(started.line)["prefix"]


def finish(running: Background) -> dict[str, object]:
    out, _ = running.finish("\n")
    assert running.returncode == 0
    return json.loads(out.splitlines()[-1])


def test_a_running_script_keeps_its_generation_and_commands_return_at_once(
    sandbox: Sandbox, wheels: Path, launcher: str
) -> None:
    script = sandbox.script(deps=("alpha",), body=WAITS)
    assert finish(start_waiting(sandbox, script)[0])["alpha"] == "1.0"
    name, first = env_of(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")
    running, prefix = start_waiting(sandbox, script)
    try:
        assert prefix == str(first)
        # Each returns while the script is still waiting on its stdin: no command waits
        # for it, and launches after each flip get the generation it made current.
        assert upgrade(sandbox, str(script)).returncode == 0
        assert finish(start_waiting(sandbox, script)[0])["alpha"] == "2.0"
        assert sandbox.run("reinstall", str(script)).returncode == 0
        assert finish(start_waiting(sandbox, script)[0])["alpha"] == "2.0"
        assert sandbox.run("rollback", str(script)).returncode == 0
        assert finish(start_waiting(sandbox, script)[0])["alpha"] == "2.0"  # the upgrade's
        assert generations(sandbox, script) == ["g1", "g2", "g3"]
        # gc keeps the generation the script runs in (neither current nor kept for
        # rollback any more), and says so.
        proc = sandbox.run("gc")
        assert proc.returncode == 0, proc.stderr
        assert f"skipped {name} g1: a running script is using this generation" in proc.stdout
        assert generations(sandbox, script) == ["g1", "g2", "g3"]
    finally:
        # It imports alpha only now, from the generation it started in.
        assert finish(running) == {"alpha": "1.0", "prefix": str(first)}
    # Now that nothing uses it, gc deletes it; the current one and the rollback stay.
    proc = sandbox.run("gc")
    assert f"removed {name} g1 (" in proc.stdout, proc.stdout
    assert generations(sandbox, script) == ["g2", "g3"]
    assert finish(start_waiting(sandbox, script)[0])["prefix"] == str(first.parent / "g2")
    assert sandbox.run("rollback", str(script)).returncode == 0  # g3: the reinstall
    assert finish(start_waiting(sandbox, script)[0])["prefix"] == str(first.parent / "g3")


def test_a_busy_script_does_not_starve_an_upgrade(sandbox: Sandbox, wheels: Path) -> None:
    # Copies of the script overlap without a gap: each starts before the one before it
    # is let go, so at every moment one runs in the environment.
    script = sandbox.script(deps=("alpha",), body=WAITS)
    assert finish(start_waiting(sandbox, script)[0])["alpha"] == "1.0"
    build_wheel(wheels, "alpha", "2.0")
    stop = threading.Event()
    seen: list[dict[str, object]] = []

    def busy() -> None:
        older = start_waiting(sandbox, script)[0]
        while not stop.is_set():
            newer = start_waiting(sandbox, script)[0]
            seen.append(finish(older))
            older = newer
        seen.append(finish(older))

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 120
        while len(seen) < count:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        wait_for(3)  # busy for sure
        proc = upgrade(sandbox, str(script))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"{script}: upgraded"), proc.stdout
        wait_for(len(seen) + 3)  # launches after the flip get the new generation
    finally:
        stop.set()
        thread.join(120)
    assert {s["alpha"] for s in seen} == {"1.0", "2.0"}
    assert seen[-1]["alpha"] == "2.0"
