"""Saying what happened (issue 19): upgrades that could not look, commands that stop
early, counts and states that were wrong, and usage messages.

End to end against the real uv, with no network: "offline" is UV_OFFLINE, a newer
release uv cannot read is a damaged wheel in a find-links directory, and an index that
cannot be reached is one on loopback that refuses connections.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from conftest import UV, UVLAUNCH, Sandbox, build_wheel, site_packages

VERSIONS = "import alpha; print(alpha.VERSION)"
OFFLINE = "offline: only cached releases were considered"
REFUSING_INDEX = "http://127.0.0.1:9/simple"  # loopback, nothing listens: refused at once


@pytest.fixture
def wheels(sandbox: Sandbox) -> Path:
    """A find-links directory of this test's own (alpha 1.0), and no index at all.

    uv then sees every release there is, offline or not: nothing was left unseen.
    """
    d = sandbox.root / "wheels"
    d.mkdir()
    build_wheel(d, "alpha", "1.0")
    sandbox.env["UV_FIND_LINKS"] = str(d)
    sandbox.env["UV_NO_INDEX"] = "1"
    return d


def launched(sandbox: Sandbox, script: Path) -> None:
    proc = sandbox.run(str(script))
    assert proc.returncode == 0, proc.stderr


def listing(sandbox: Sandbox) -> dict[str, dict[str, object]]:
    proc = sandbox.run("list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {str(e["script"]): e for e in json.loads(proc.stdout)}


def no_traceback(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


# -- 1. an upgrade that could not look says so ----------------------------------------


def test_offline_upgrade_says_it_could_not_look(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script("s.py", deps=("alpha",), body=VERSIONS)
    launched(sandbox, script)
    # Offline, with the index uv would ask out of reach: only what is cached counts.
    offline = {k: v for k, v in sandbox.env.items() if k != "UV_NO_INDEX"}
    offline["UV_OFFLINE"] = "1"
    for args in ((), ("--dry-run",)):
        proc = no_traceback(sandbox.run("upgrade", *args, str(script), env=offline))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"{script}: unchanged ({OFFLINE})\n"
    proc = no_traceback(sandbox.run("upgrade", "--all", env=offline))
    assert proc.stdout.splitlines() == [f"{script}: unchanged ({OFFLINE})", "1 unchanged"]
    (data,) = json.loads(sandbox.run("upgrade", "--json", str(script), env=offline).stdout)
    assert data["status"] == "unchanged" and data["offline"] is True
    # Offline by uv's configuration file rather than its environment variable.
    config = sandbox.root / "uv.toml"
    config.write_text("offline = true\n")
    by_config = {k: v for k, v in offline.items() if k != "UV_OFFLINE"}
    by_config["UV_CONFIG_FILE"] = str(config)
    proc = no_traceback(sandbox.run("upgrade", str(script), env=by_config))
    assert proc.stdout == f"{script}: unchanged ({OFFLINE})\n"
    # Where uv saw every source there is, nothing is said.
    proc = no_traceback(sandbox.run("upgrade", str(script)))
    assert proc.stdout == f"{script}: unchanged\n" and proc.stderr == ""
    (data,) = json.loads(sandbox.run("upgrade", "--json", str(script)).stdout)
    assert data["offline"] is False and data["warnings"] == []


def test_a_newer_release_uv_cannot_read_is_a_warning(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script("s.py", deps=("alpha",), body=VERSIONS)
    launched(sandbox, script)
    # alpha 2.0 that is no wheel at all (no .dist-info): uv keeps 1.0, with a warning.
    with zipfile.ZipFile(wheels / "alpha-2.0-py3-none-any.whl", "w") as zf:
        zf.writestr("alpha/__init__.py", "VERSION = '2.0'\n")
    proc = no_traceback(sandbox.run("upgrade", str(script)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{script}: unchanged\n"
    warnings = proc.stderr.splitlines()
    assert warnings and all(w.startswith(f"{script}: warning: ") for w in warnings), proc.stderr
    assert "alpha" in proc.stderr and "invalid package format" in proc.stderr
    (data,) = json.loads(sandbox.run("upgrade", "--json", "--dry-run", str(script)).stdout)
    assert data["status"] == "unchanged" and any("alpha" in w for w in data["warnings"])


def test_an_index_out_of_reach_fails_naming_it_once(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script("s.py", deps=("alpha",), body=VERSIONS)
    launched(sandbox, script)
    env = {k: v for k, v in sandbox.env.items() if k not in ("UV_OFFLINE", "UV_NO_INDEX")}
    env.update(UV_INDEX_URL=REFUSING_INDEX, UV_HTTP_RETRIES="0")
    proc = no_traceback(sandbox.run("upgrade", str(script), env=env))
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"{script}: failed: ") and "127.0.0.1:9" in line
    # 3. The path once, not twice.
    assert line.count(str(script)) == 1, line


# -- 2. a package the environment does not have is named -------------------------------


def test_upgrade_package_it_does_not_have_fails(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script("s.py", deps=("alpha",), body=VERSIONS)
    launched(sandbox, script)
    for extra in ((), ("--dry-run",)):
        proc = no_traceback(sandbox.run("upgrade", *extra, "-P", "alhpa", str(script)))
        assert proc.returncode == 1, proc.stdout
        (line,) = proc.stderr.splitlines()
        assert line.startswith(f"{script}: failed: ") and "alhpa" in line
        assert "not installed" in line and line.count(str(script)) == 1
    build_wheel(wheels, "alpha", "2.0")
    proc = no_traceback(sandbox.run("upgrade", "-P", "Alpha", str(script)))
    assert proc.returncode == 0 and "alpha 1.0 -> 2.0" in proc.stdout, proc.stderr


# -- 4. a busy environment names who holds it ------------------------------------------


SLOW_UV = """\
#!/bin/sh
# uv, but a dry run first waits (60 s at most) until the test lets it go on.
case " $* " in
*" --dry-run "*)
    : > "{d}/started"
    i=0
    while [ ! -e "{d}/go" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
    ;;
esac
exec "{uv}" "$@"
"""


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_two_upgrades_at_once_the_loser_names_the_other(sandbox: Sandbox, wheels: Path) -> None:
    script = sandbox.script("s.py", deps=("alpha",), body=VERSIONS)
    launched(sandbox, script)
    slow = sandbox.root / "slow-uv"
    slow.write_text(SLOW_UV.format(d=sandbox.root, uv=UV))
    slow.chmod(0o755)
    first = subprocess.Popen(
        [UVLAUNCH, "upgrade", "--all"],
        env={**sandbox.env, "UVLAUNCH_UV": str(slow)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(sandbox.root / "started", first)
        proc = no_traceback(sandbox.run("upgrade", "--all"))
    finally:
        (sandbox.root / "go").touch()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and f"{script}: unchanged" in out, err
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"{script}: skipped (busy): ")
    assert "upgrading" in line and f"pid {first.pid}" in line, line
    assert "a launch" not in line


# -- 5. sync goes on past a script that fails -----------------------------------------


def test_sync_goes_on_past_a_failure(sandbox: Sandbox) -> None:
    bad = sandbox.script("bad.py", deps=("nosuchpackage",), body=VERSIONS)
    good = sandbox.script("good.py", deps=("alpha",), body=VERSIONS)
    proc = no_traceback(sandbox.run("sync", str(bad), "missing.py", str(good)))
    assert proc.returncode == 2
    env = listing(sandbox)[str(good)]["environment"]
    assert proc.stdout == f"{good}: {env}\n"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("uvlaunch: error: ")]
    assert len(errors) == 2, proc.stderr
    assert str(bad) in errors[0] and "missing.py" in errors[1]
    assert str(bad) not in listing(sandbox)


# -- 6. only launches count as launches ------------------------------------------------


def age_home(sandbox: Sandbox, days: float) -> None:
    """Make everything in the home look ``days`` old (as if last touched then), once the
    background compiler is done (its files come and go meanwhile: an utime of one that
    went is FileNotFoundError, and its writes would make the home young again)."""
    from conftest import settle

    settle(sandbox)
    past = time.time() - days * 86400
    for path in [sandbox.home, *sandbox.home.rglob("*")]:
        if not path.is_symlink():
            os.utime(path, (past, past))


def test_sync_and_reinstall_are_not_launches(sandbox: Sandbox) -> None:
    old = sandbox.script("old.py", deps=("alpha",), body=VERSIONS)
    launched(sandbox, old)
    age_home(sandbox, 100)
    # A sync with nothing to do, a real sync (a dependency added), a reinstall.
    assert sandbox.run("sync", str(old)).returncode == 0
    old.write_text(old.read_text().replace('["alpha"]', '["alpha", "beta"]'))
    assert sandbox.run("sync", str(old)).returncode == 0
    assert no_traceback(sandbox.run("reinstall", str(old))).returncode == 0
    entry = listing(sandbox)[str(old)]
    assert time.time() - float(entry["last_launched"]) > 99 * 86400  # type: ignore[arg-type]
    assert time.time() - float(entry["last_synced"]) < 3600  # type: ignore[arg-type]
    assert " 100d ago " in sandbox.run("list").stdout
    result = json.loads(sandbox.run("gc", "--unused-for", "90d", "--json").stdout)
    assert [r["script"] for r in result["removed"]] == [str(old)]

    # Synced and never launched: "never", and it counts as new for gc --unused-for.
    fresh = sandbox.script("fresh.py", deps=("alpha",), body=VERSIONS)
    assert sandbox.run("sync", str(fresh)).returncode == 0
    entry = listing(sandbox)[str(fresh)]
    assert entry["last_launched"] is None and entry["last_synced"] is not None
    row = next(r for r in sandbox.run("list").stdout.splitlines() if r.endswith(str(fresh)))
    assert " never " in row
    assert json.loads(sandbox.run("gc", "--unused-for", "1d", "--json").stdout)["removed"] == []
    launched(sandbox, fresh)
    assert time.time() - float(listing(sandbox)[str(fresh)]["last_launched"]) < 3600  # type: ignore[arg-type]


# -- 7. what gc frees includes what killed commands left --------------------------------


KILLING_UV = """\
#!/bin/sh
# uv, but the sync that builds an upgrade's new environment kills uvlaunch first.
case " $* " in
*" --dry-run "*) ;;
*" sync "*" --upgrade "*) kill -9 $PPID; exit 1 ;;
esac
exec "{uv}" "$@"
"""


def upgrade_killed(sandbox: Sandbox, wheels: Path) -> Path:
    """A launched script whose upgrade was killed part-way (KILLING_UV); returns it."""
    script = sandbox.script("s.py", deps=("alpha",), body=VERSIONS)
    launched(sandbox, script)
    build_wheel(wheels, "alpha", "2.0")
    killing = sandbox.root / "killing-uv"
    killing.write_text(KILLING_UV.format(uv=UV))
    killing.chmod(0o755)
    killed = sandbox.run("upgrade", str(script), env={**sandbox.env, "UVLAUNCH_UV": str(killing)})
    assert killed.returncode == -9, killed.stderr
    return script


def test_gc_counts_the_leftovers_of_a_killed_upgrade(sandbox: Sandbox, wheels: Path) -> None:
    script = upgrade_killed(sandbox, wheels)
    before = json.loads(sandbox.run("gc", "--dry-run", "--json").stdout)
    proc = no_traceback(sandbox.run("gc", "--json"))
    result = json.loads(proc.stdout)
    # What the killed upgrade left is its half-built generation, beside the current one.
    (removed,) = result["removed"]
    assert removed["generation"] == "g2" and removed["freed"] > 0, result
    assert result["freed"] > 0, result
    assert before["freed"] == result["freed"], (before, result)
    # Nothing is left to free, and the text says what was freed, not "0 B".
    again = no_traceback(sandbox.run("gc"))
    assert again.stdout == "freed 0 B in 0 environments\n"
    assert sandbox.run(str(script)).stdout == "1.0\n"


def test_gc_text_names_the_leftovers(sandbox: Sandbox, wheels: Path) -> None:
    upgrade_killed(sandbox, wheels)
    lines = no_traceback(sandbox.run("gc")).stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("removed ") and " g2 (" in lines[0], lines
    assert lines[1].startswith("freed ") and not lines[1].startswith("freed 0 B"), lines


# -- 8. show says when an environment is damaged ---------------------------------------


def test_show_says_damaged(sandbox: Sandbox) -> None:
    script = sandbox.script("s.py", deps=("alpha", "beta"), body=VERSIONS)
    launched(sandbox, script)
    proc = sandbox.run("show", str(script))
    assert proc.returncode == 0 and "\ndamaged:" not in proc.stdout, proc.stdout
    assert json.loads(sandbox.run("show", "--json", str(script)).stdout)["damage"] == []

    env = Path(str(listing(sandbox)[str(script)]["environment"]))
    shutil.rmtree(site_packages(env) / "alpha")  # a package's files deleted
    for dist_info in site_packages(env).glob("beta-*.dist-info"):
        shutil.rmtree(dist_info)  # a package uninstalled behind uv's back
    proc = no_traceback(sandbox.run("show", str(script)))
    assert proc.returncode == 0
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("damaged:")]
    assert "alpha" in line and "beta" in line and "run `uvlaunch reinstall`" in line
    damage = json.loads(sandbox.run("show", "--json", str(script)).stdout)["damage"]
    assert len(damage) == 2 and "alpha" in damage[0] and "beta" in damage[1], damage

    assert sandbox.run("reinstall", str(script)).returncode == 0
    assert "\ndamaged:" not in sandbox.run("show", str(script)).stdout


# -- 9. --json prints JSON, errors included --------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("rollback", "--json", "s.py"),
        ("show", "--json", "nosuch"),
        ("upgrade", "--json", "nosuch"),
        ("reinstall", "--json", "nosuch"),
        ("upgrade", "--json"),
        ("gc", "--json", "--unused-for", "12x"),
        ("where", "--json", "missing.py"),
        ("list", "--json", "--bogus"),
    ],
)
def test_json_errors_are_json(sandbox: Sandbox, args: tuple[str, ...]) -> None:
    launched(sandbox, sandbox.script("s.py", deps=("alpha",), body=VERSIONS))
    proc = no_traceback(sandbox.run(*args))
    assert proc.returncode == 2, proc.stdout
    data = json.loads(proc.stdout)
    assert list(data) == ["error"] and isinstance(data["error"], str) and data["error"]
    assert f"uvlaunch: error: {data['error']}" in proc.stderr


# -- 10. exec: 127 and 126, as shells say ----------------------------------------------


def test_exec_exit_statuses_are_the_shells(sandbox: Sandbox) -> None:
    script = sandbox.script("s.py", deps=("alpha",), body=VERSIONS)
    launched(sandbox, script)
    proc = no_traceback(sandbox.run("exec", str(script), "--", "nosuchcmd"))
    assert proc.returncode == 127
    (line,) = proc.stderr.splitlines()
    assert line.startswith("uvlaunch: error: nosuchcmd: ") and "not found" in line
    (sandbox.scripts / "nosuchcmd").write_text("echo should not run\n")
    (sandbox.scripts / "nosuchcmd").chmod(0o755)
    proc = sandbox.run("exec", str(script), "--", "nosuchcmd")  # not from the current dir
    assert proc.returncode == 127 and "should not run" not in proc.stdout
    (sandbox.scripts / "plain.txt").write_text("not a program\n")
    proc = no_traceback(sandbox.run("exec", str(script), "--", "./plain.txt"))
    assert proc.returncode == 126
    (line,) = proc.stderr.splitlines()
    assert line.startswith("uvlaunch: error: ./plain.txt: ")


# -- 11, 12. usage messages as click says them ------------------------------------------


def assert_usage(proc: subprocess.CompletedProcess[str], command: str, needle: str) -> list[str]:
    """click's short usage, one pointer to the command's help, then the error; exit 2."""
    detail = f"exit {proc.returncode}\nstderr:{proc.stderr}"
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr, detail
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"Usage: {command} "), detail
    assert lines[1] == f"Try '{command} --help' for help.", detail
    assert len(lines) <= 4 and lines[-1].startswith("uvlaunch: error: "), detail
    assert needle in lines[-1], detail
    assert "; see" not in proc.stderr and "Commands:" not in proc.stderr, detail
    return lines


def test_bare_uvlaunch_is_short_usage(sandbox: Sandbox) -> None:
    assert_usage(sandbox.run(), "uvlaunch", "give a script to run, or a command")


def test_usage_errors_point_to_help(sandbox: Sandbox) -> None:
    lines = assert_usage(sandbox.run("list", "--jsno"), "uvlaunch list", "--jsno")
    assert lines[-1].endswith("Did you mean '--json'?")
    assert_usage(sandbox.run("upgrade"), "uvlaunch upgrade", "--all")
    assert_usage(sandbox.run("reinstall"), "uvlaunch reinstall", "--all")
    assert_usage(sandbox.run("upgrade", "--all", "s.py"), "uvlaunch upgrade", "not both")


def test_after_double_dash_a_missing_file_is_a_missing_file(sandbox: Sandbox) -> None:
    proc = no_traceback(sandbox.run("--", "list"))
    assert proc.returncode == 2
    assert proc.stderr == "uvlaunch: error: list: no such file\n"
    proc = no_traceback(sandbox.run("run", "lsit"))
    assert proc.stderr == "uvlaunch: error: lsit: no such file\n"
    # Without `--`, a mistyped command still gets its suggestion.
    assert "did you mean 'list'?" in sandbox.run("lsit").stderr
