"""upgrade, reinstall and rollback (issue 10), end to end against the real uv, offline.

Each test has a find-links directory of its own: a newer wheel appearing in it is an
upgrade that uv can see.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import (
    UVLAUNCH,
    Sandbox,
    build_wheel,
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
    data = json.loads(sandbox.run("where", "--json", str(script)).stdout)
    return str(data["name"]), Path(data["environment"])


def upgrade(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    proc = sandbox.run("upgrade", *args)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_dry_run_shows_changes_and_changes_nothing(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha", "beta"), body=VERSIONS)
    assert versions(sandbox, script) == {"alpha": "1.0", "beta": "1.0"}
    _, env = env_of(sandbox, script)
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
    assert installed(env) == {"alpha"}
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
    # No background compiler: it would write into the environment after the snapshot.
    sandbox.env["UVLAUNCH_COMPILE_BYTECODE"] = "0"
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    versions(sandbox, script)
    _, env = env_of(sandbox, script)
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
    assert list((sandbox.home / "staging").iterdir()) == []
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
    assert f"{busy}: skipped (busy): a launch is creating or syncing it" in proc.stderr
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
    previous = sandbox.home / "previous"
    assert len(list(previous.iterdir())) == 2
    assert sandbox.run("remove", str(keep)).returncode == 0
    gone.unlink()
    assert sandbox.run("gc").returncode == 0
    assert list(previous.iterdir()) == [] and sandbox.envs() == []


def test_a_swap_cut_short_is_undone_by_the_next_launch(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script(deps=("alpha",), body=VERSIONS)
    versions(sandbox, script)
    name, env = env_of(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")
    assert upgrade(sandbox, str(script)).returncode == 0
    # Killed between the swap's two renames: the environment is gone, the previous one kept.
    shutil.rmtree(env)
    assert versions(sandbox, script)["alpha"] == "1.0"
    assert not (sandbox.home / "previous" / name).exists()


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
    assert os.listdir(sandbox.home / "staging") == []


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


def test_a_swap_waits_for_the_script_running_in_the_environment(
    sandbox: Sandbox, wheels: Path
) -> None:
    body = "import sys, alpha\nprint('started', flush=True)\nsys.stdin.readline()\n" + VERSIONS
    script = sandbox.script(deps=("alpha",), body=body)
    assert sandbox.run(str(script), input="\n").returncode == 0
    build_wheel(wheels, "alpha", "2.0")

    def built() -> bool:
        """The new generation is stamped in staging/: all that is left is the swap."""
        return any(sandbox.home.glob("staging/*/uvlaunch-stamp"))

    upgrading = [UVLAUNCH, "upgrade", str(script)]
    with (
        in_background([UVLAUNCH, str(script)], env=sandbox.env) as running,
        in_background(upgrading, env=sandbox.env, ready=built) as up,
    ):
        assert up.running()
        _, env = env_of(sandbox, script)
        assert (site_packages(env) / "alpha-1.0.dist-info").is_dir()
        out, _ = running.finish("\n")
        assert running.returncode == 0 and json.loads(out)["alpha"] == "1.0"  # never a mix
        up.finish()
        assert up.returncode == 0
    assert versions(sandbox, script)["alpha"] == "2.0"


def test_a_swap_gives_up_on_a_script_that_keeps_running(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from uvlaunch import generations, locks
    from uvlaunch.errors import UvlaunchError

    (sandbox.home / "locks").mkdir(parents=True)
    monkeypatch.setattr(generations, "SWAP_WAIT", 0.3)
    held = locks.Lock(str(sandbox.home / "locks" / "x-0123456789.use"), shared=True)
    assert held.acquire()
    try:
        with pytest.raises(UvlaunchError, match="a running script is using the environment"):
            generations._quiet_moment(str(sandbox.home), "x-0123456789")
    finally:
        held.release()
    generations._quiet_moment(str(sandbox.home), "x-0123456789").release()
