"""Launching: the shebang form, `run`, fidelity, output, exactness, and uv's cache.

Every test starts the real installed ``uvlaunch`` (directly, or by executing the
script through its ``#!/usr/bin/env -S uvlaunch`` shebang) with the real uv, offline,
against the local wheelhouse.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import (
    UVLAUNCH,
    Sandbox,
    compiled,
    current_generation,
    execute,
    in_background,
    installed,
    make_script,
    report,
    site_packages,
)

# How the script gets started: a cold start (creates the environment), a warm start
# (the fast path, no uv), and a warm start through `uv run --active --script`.
MODES = ["cold", "warm", "through-uv"]


def launch(
    sandbox: Sandbox,
    mode: str,
    script: Path,
    *args: str,
    cwd: Path | None = None,
    input: str | None = None,
    invoked: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Start ``script`` through its shebang in ``mode``; returns the last start."""
    env = dict(sandbox.env)
    if mode != "cold":
        sandbox.run(str(script), input="")
        assert sandbox.envs(), "the warm-up start created no environment"
    if mode == "through-uv":
        env["UVLAUNCH_NO_FAST_PATH"] = "1"
    return subprocess.run(
        [invoked or str(script), *args],
        cwd=cwd or sandbox.scripts,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )


def only_env(sandbox: Sandbox) -> str:
    """The current generation of the only environment."""
    envs = sandbox.envs()
    assert len(envs) == 1, envs
    return str(envs[0])


def edited(sandbox: Sandbox, before: str) -> str:
    """The current generation of the only environment after an edit: a new one of the
    same environment (an edit never changes a generation)."""
    after = only_env(sandbox)
    assert after != before and Path(after).parent == Path(before).parent, (before, after)
    return after


# -- starting a script ---------------------------------------------------------------


def test_shebang_from_another_directory(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py", directory=sandbox.root / "toolbox")
    elsewhere = sandbox.root / "work"
    elsewhere.mkdir()
    out = report(execute(sandbox, script, "x", cwd=elsewhere))
    assert out["argv"] == [str(script), "x"]
    assert os.path.realpath(str(out["cwd"])) == os.path.realpath(elsewhere)
    assert out["alpha"] == "2.0"
    assert out["VIRTUAL_ENV"] == only_env(sandbox)
    # Relative to the caller's directory works as well.
    rel = os.path.relpath(script, elsewhere)
    out = report(execute(sandbox, rel, cwd=elsewhere))
    assert out["argv"] == [rel]
    assert out["VIRTUAL_ENV"] == only_env(sandbox)


def test_shebang_found_on_path(sandbox: Sandbox) -> None:
    toolbox = sandbox.root / "toolbox"
    script = sandbox.script("mytool", directory=toolbox)
    env = {**sandbox.env, "PATH": str(toolbox) + os.pathsep + sandbox.env["PATH"]}
    elsewhere = sandbox.root / "work"
    elsewhere.mkdir()
    proc = subprocess.run(
        ["mytool", "arg"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    out = report(proc)
    assert out["argv"] == [str(script), "arg"]
    assert out["VIRTUAL_ENV"] == only_env(sandbox)


def test_plain_env_shebang_without_dash_s(sandbox: Sandbox) -> None:
    script = sandbox.script("plain.py")
    script.write_text(
        script.read_text().replace("#!/usr/bin/env -S uvlaunch", "#!/usr/bin/env uvlaunch")
    )
    assert script.read_text().startswith("#!/usr/bin/env uvlaunch\n")
    out = report(execute(sandbox, script, "--flag"))
    assert out["argv"] == [str(script), "--flag"]
    assert out["alpha"] == "2.0"


@pytest.mark.parametrize("name", ["gc", "list", "where", "run"])
def test_script_named_like_a_subcommand_runs_the_script(sandbox: Sandbox, name: str) -> None:
    sandbox.script(name)
    # Through its shebang: the kernel passes ./NAME to uvlaunch.
    out = report(execute(sandbox, f"./{name}", "a"))
    assert out["argv"] == [f"./{name}", "a"]
    assert out["VIRTUAL_ENV"] == only_env(sandbox)
    # Given by path on the command line, and after `run`.
    assert report(sandbox.run(f"./{name}"))["argv"] == [f"./{name}"]
    assert report(sandbox.run("run", name, "b"))["argv"] == [name, "b"]


def test_script_named_like_a_subcommand_on_path(sandbox: Sandbox) -> None:
    toolbox = sandbox.root / "bin"
    script = sandbox.script("list", directory=toolbox)
    env = {**sandbox.env, "PATH": str(toolbox) + os.pathsep + sandbox.env["PATH"]}
    proc = subprocess.run(
        ["list", "--json"], cwd=sandbox.root, env=env, capture_output=True, text=True, timeout=120
    )
    assert report(proc)["argv"] == [str(script), "--json"]


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_run_subcommand(sandbox: Sandbox, warm: bool) -> None:
    script = sandbox.script("tool.py")
    if warm:
        report(sandbox.run(str(script)))
    out = report(sandbox.run("run", str(script), "a", "-q", "--help", "--", "-v"))
    assert out["argv"] == [str(script), "a", "-q", "--help", "--", "-v"]
    assert out["VIRTUAL_ENV"] == only_env(sandbox)
    out = report(sandbox.run("run", "--no-fast-path", str(script), "--version"))
    assert out["argv"] == [str(script), "--version"]


@pytest.mark.parametrize("mode", MODES)
def test_help_after_the_script_goes_to_the_script(sandbox: Sandbox, mode: str) -> None:
    script = sandbox.script("tool.py")
    for args in (["--help"], ["-h"], ["--version"], ["where", "--json"], ["-q", "-v"]):
        proc = launch(sandbox, mode, script, *args)
        out = report(proc)
        assert out["argv"] == [str(script), *args]
        assert "Usage" not in proc.stdout
        mode = "warm" if mode == "cold" else mode  # only the first start is cold
    proc = sandbox.run(str(script), "--help")
    assert report(proc)["argv"] == [str(script), "--help"]


# -- fidelity ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_argv_as_invoked_and_cwd(sandbox: Sandbox, mode: str) -> None:
    script = sandbox.script("tool.py")
    elsewhere = sandbox.root / "caller"
    elsewhere.mkdir()
    rel = os.path.relpath(script, elsewhere)
    args = ["plain", "with space", "--opt=1", "-x", "", "ünïcode"]
    out = report(launch(sandbox, mode, script, *args, cwd=elsewhere, invoked=rel))
    assert out["argv"] == [rel, *args]
    assert os.path.realpath(str(out["cwd"])) == os.path.realpath(elsewhere)


STDIN_BODY = """\
import sys
data = sys.stdin.read()
sys.stdout.write("out:" + data.upper())
sys.stderr.write("err:" + data)
"""


@pytest.mark.parametrize("mode", MODES)
def test_stdin_stdout_stderr_pass_through(sandbox: Sandbox, mode: str) -> None:
    script = sandbox.script("echo.py", body=STDIN_BODY)
    proc = launch(sandbox, mode, script, input="hello\nworld\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "out:HELLO\nWORLD\n"
    if mode == "cold":
        assert proc.stderr.endswith("err:hello\nworld\n")
    else:
        assert proc.stderr == "err:hello\nworld\n"


@pytest.mark.parametrize("mode", MODES)
def test_exit_status_passed_through(sandbox: Sandbox, mode: str) -> None:
    for status in (7, 0, 1, 2, 255):
        # Cold: a new script each time; otherwise only the code changes, so it stays warm.
        name = f"exits{status}.py" if mode == "cold" else "exits.py"
        script = sandbox.script(name, body=f"import sys\nsys.exit({status})\n")
        proc = launch(sandbox, mode, script)
        assert proc.returncode == status, proc.stderr
        assert "uvlaunch: error" not in proc.stderr
        if mode != "cold":
            assert proc.stderr == ""


@pytest.mark.parametrize("mode", MODES)
def test_uncaught_exception_status(sandbox: Sandbox, mode: str) -> None:
    script = sandbox.script("raises.py", body="raise SystemExit('bye')\n")
    proc = launch(sandbox, mode, script)
    assert proc.returncode == 1
    assert proc.stderr.endswith("bye\n")
    assert "uvlaunch: error" not in proc.stderr


SLEEPER = """\
import os, sys, time
print("started", os.getpid(), flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_is_delivered_to_the_script(sandbox: Sandbox, warm: bool, sig: int) -> None:
    if warm:
        quick = sandbox.script("sleeper.py", body="pass\n")
        assert sandbox.run(str(quick)).returncode == 0
    # Only the code below the block differs from the warm-up: the start stays warm.
    script = sandbox.script("sleeper.py", body=SLEEPER)
    with in_background([str(script)], cwd=sandbox.scripts, env=sandbox.env) as running:
        # exec, not a child: env, uvlaunch and the script are one process.
        assert int(running.line.split()[1]) == running.pid
        running.proc.send_signal(sig)
        _, stderr = running.finish(timeout=30)
        status = running.returncode
    if sig == signal.SIGINT:
        # Python turns SIGINT into KeyboardInterrupt, then re-raises the signal on exit.
        assert status in (-signal.SIGINT, 130), stderr
        assert "KeyboardInterrupt" in stderr
    else:
        assert status == -sig, stderr
        if warm:
            assert stderr == ""


ENV_BODY = """\
import json, os, shutil, subprocess, sys
tool = shutil.which("gamma-tool")
print(json.dumps({
    "VIRTUAL_ENV": os.environ.get("VIRTUAL_ENV"),
    "PATH": os.environ.get("PATH"),
    "prefix": sys.prefix,
    "executable": sys.executable,
    "tool": tool,
    "tool_output": subprocess.run([tool], capture_output=True, text=True).stdout if tool else None,
}))
"""


@pytest.mark.parametrize("mode", MODES)
def test_virtual_env_and_path(sandbox: Sandbox, mode: str) -> None:
    script = sandbox.script("envy.py", deps=["gamma"], body=ENV_BODY)
    proc = launch(sandbox, mode, script)
    out = report(proc)
    env = only_env(sandbox)
    bin_dir = os.path.join(env, "bin")
    assert out["VIRTUAL_ENV"] == env
    assert out["prefix"] == env
    assert os.path.dirname(str(out["executable"])) == bin_dir
    path = str(out["PATH"]).split(os.pathsep)
    assert path[0] == bin_dir
    # The caller's PATH follows, in order.
    caller = sandbox.env["PATH"].split(os.pathsep)
    assert [p for p in path if p in caller] == caller
    assert out["tool"] == os.path.join(bin_dir, "gamma-tool")
    assert out["tool_output"] == "gamma-tool ran\n"


def test_caller_virtual_env_is_replaced(sandbox: Sandbox, tmp_path: Path) -> None:
    script = sandbox.script("envy.py")
    other = tmp_path / "someone-elses-venv"
    env = {**sandbox.env, "VIRTUAL_ENV": str(other)}
    for _ in range(2):  # cold, then warm
        proc = subprocess.run(
            [str(script)], cwd=sandbox.scripts, env=env, capture_output=True, text=True, timeout=120
        )
        out = report(proc)
        assert out["VIRTUAL_ENV"] == only_env(sandbox)
        assert out["alpha"] == "2.0"
    assert not other.exists()


# -- output --------------------------------------------------------------------------


def test_cold_start_shows_uv_output_warm_start_nothing(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py", deps=["alpha", "beta"])
    cold = sandbox.run(str(script))
    report(cold)
    # What `uv run --script` shows for the same block: one summary line, no report.
    plain = sandbox.script("plain.py", deps=["alpha", "beta"])
    by_uv = sandbox.uv("run", "--script", str(plain))
    assert by_uv.returncode == 0, by_uv.stderr
    for proc in (cold, by_uv):
        (line,) = proc.stderr.splitlines()
        assert line.startswith("Installed 2 packages in "), proc.stderr
    # -v shows uv's whole report, with absolute paths only.
    # Another block: a copy of tool.py's would share its generation, and uv say nothing.
    verbose = sandbox.script("verbose.py", deps=["alpha", "beta", "gamma"])
    loud = sandbox.run("-v", str(verbose))
    report(loud)
    assert "alpha==2.0" in loud.stderr and "beta==1.0" in loud.stderr
    assert "at: home/" not in loud.stderr and "at: uvlaunch-home/" not in loud.stderr
    warm = sandbox.run(str(script))
    report(warm)
    assert warm.stderr == ""
    warm = execute(sandbox, script)
    report(warm)
    assert warm.stderr == ""


def test_warm_start_through_uv_prints_nothing_of_uvlaunch(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    report(sandbox.run(str(script)))
    proc = sandbox.run("--no-fast-path", str(script))
    report(proc)
    assert "uvlaunch: error" not in proc.stderr
    assert "Installed" not in proc.stderr


@pytest.mark.parametrize("how", ["-q", "--quiet", "run -q"])
def test_quiet_silences_uv_on_a_cold_start(sandbox: Sandbox, how: str) -> None:
    script = sandbox.script("tool.py")
    words = how.split()
    proc = sandbox.run(*words, str(script))
    assert report(proc)["argv"] == [str(script)]
    assert proc.stderr == ""
    assert report(sandbox.run(str(script)))["VIRTUAL_ENV"] == only_env(sandbox)


@pytest.mark.parametrize("how", ["-v", "--verbose", "run -v"])
def test_verbose_adds_uv_debug_lines(sandbox: Sandbox, how: str) -> None:
    script = sandbox.script("tool.py")
    proc = sandbox.run(*how.split(), str(script))
    assert report(proc)["argv"] == [str(script)]
    assert "DEBUG" in proc.stderr
    assert "alpha==2.0" in proc.stderr


def test_quiet_and_verbose_after_the_script_belong_to_the_script(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    proc = sandbox.run(str(script), "-q")
    assert report(proc)["argv"] == [str(script), "-q"]
    assert "Installed 1 package" in proc.stderr  # not quiet: -q went to the script


# -- exactness -----------------------------------------------------------------------

MODULES_BODY = """\
import importlib.util, json
print(json.dumps({m: importlib.util.find_spec(m) is not None
                  for m in ("alpha", "beta", "gamma", "needsalpha")}))
"""


def rewrite(path: Path, **kwargs: object) -> None:
    """Rewrite a script in place (same inode), as `echo ... > file` would."""
    ino = path.stat().st_ino
    path.write_text(make_script(**kwargs))  # type: ignore[arg-type]
    assert path.stat().st_ino == ino


def test_dropping_a_dependency_removes_it(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py", deps=["alpha", "beta"], body=MODULES_BODY)
    assert report(sandbox.run(str(script))) == {
        "alpha": True,
        "beta": True,
        "gamma": False,
        "needsalpha": False,
    }
    env = only_env(sandbox)
    assert {"alpha", "beta"} <= installed(env)
    rewrite(script, deps=["alpha"], body=MODULES_BODY)
    proc = sandbox.run(str(script))
    assert report(proc) == {"alpha": True, "beta": False, "gamma": False, "needsalpha": False}
    assert "Uninstalled" not in proc.stderr  # uv run --script would not say it either
    env = edited(sandbox, env)
    assert "beta" not in installed(env)
    assert not (site_packages(env) / "beta").exists()


def test_dropping_a_dependency_removes_its_dependencies(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py", deps=["needsalpha"], body=MODULES_BODY)
    assert report(sandbox.run(str(script)))["alpha"] is True
    env = only_env(sandbox)
    rewrite(script, deps=["beta"], body=MODULES_BODY)
    out = report(sandbox.run(str(script)))
    assert out == {"alpha": False, "beta": True, "gamma": False, "needsalpha": False}
    assert installed(edited(sandbox, env)) & {"alpha", "needsalpha"} == set()


def test_dropping_everything_removes_everything(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py", deps=["alpha", "gamma"], body=MODULES_BODY)
    assert report(sandbox.run("--no-fast-path", str(script)))["gamma"] is True
    env = only_env(sandbox)
    rewrite(script, deps=[], body=MODULES_BODY)
    out = report(sandbox.run("--no-fast-path", str(script)))
    assert not any(out.values())
    env = edited(sandbox, env)
    assert installed(env) == set()
    assert not (Path(env) / "bin" / "gamma-tool").exists()


def test_adding_a_dependency_installs_it(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py", deps=[])
    assert report(sandbox.run(str(script)))["alpha"] is None
    env = only_env(sandbox)
    rewrite(script, deps=["alpha"])
    proc = sandbox.run(str(script))
    assert report(proc)["alpha"] == "2.0"
    assert proc.stderr.startswith("Installed 1 package in ")
    edited(sandbox, env)
    # And then warm again.
    warm = sandbox.run(str(script))
    assert report(warm)["alpha"] == "2.0"
    assert warm.stderr == ""


def test_changing_a_version_constraint_syncs(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py", deps=["alpha<2"])
    assert report(sandbox.run(str(script)))["alpha"] == "1.0"
    rewrite(script, deps=["alpha>=2"])
    assert report(sandbox.run(str(script)))["alpha"] == "2.0"
    rewrite(script, deps=["alpha==1.0"])
    assert report(execute(sandbox, script))["alpha"] == "1.0"


def offline_env(sandbox: Sandbox) -> dict[str, str]:
    """Offline with no packages to be found anywhere: any resolution would fail."""
    env = dict(sandbox.env)
    env.pop("UV_FIND_LINKS")
    env["UV_OFFLINE"] = "1"
    return env


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "no-fast-path"])
def test_code_change_below_the_block_does_not_sync(sandbox: Sandbox, fast: bool) -> None:
    script = sandbox.script("tool.py")
    env = str(report(sandbox.run(str(script)))["VIRTUAL_ENV"])
    text = script.read_text()
    script.write_text(text + "print('changed', file=__import__('sys').stderr)\n")
    assert sandbox.uv("cache", "clean").returncode == 0
    args = [] if fast else ["--no-fast-path"]
    proc = sandbox.run(*args, str(script), env=offline_env(sandbox))
    out = report(proc)
    assert proc.stderr == "changed\n"  # the script's own line only: no sync
    assert out["VIRTUAL_ENV"] == env
    assert out["alpha"] == "2.0"


def test_code_change_with_a_stray_block_marker_in_a_string(sandbox: Sandbox) -> None:
    # Lines that do not start a block (not at a line start) are code, not metadata.
    script = sandbox.script("tool.py")
    report(sandbox.run(str(script)))
    script.write_text(script.read_text() + "x = '# /// script'\n")
    assert sandbox.uv("cache", "clean").returncode == 0
    proc = sandbox.run(str(script), env=offline_env(sandbox))
    report(proc)
    assert proc.stderr == ""


def _only_alpha_1(sandbox: Sandbox) -> dict[str, str]:
    old = sandbox.root / "only-alpha-1"
    old.mkdir(exist_ok=True)
    shutil.copy(Path(sandbox.env["UV_FIND_LINKS"]) / "alpha-1.0-py3-none-any.whl", old)
    return {**sandbox.env, "UV_FIND_LINKS": str(old)}


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "no-fast-path"])
def test_lock_file_created_or_changed_triggers_a_sync(sandbox: Sandbox, fast: bool) -> None:
    script = sandbox.script("tool.py")
    args = [] if fast else ["--no-fast-path"]
    assert report(sandbox.run(*args, str(script)))["alpha"] == "2.0"
    env = only_env(sandbox)
    lock = Path(str(script) + ".lock")

    # Created: locked while only alpha 1.0 could be found, so it pins 1.0.
    proc = sandbox.uv("lock", "--script", str(script), env=_only_alpha_1(sandbox))
    assert proc.returncode == 0, proc.stderr
    assert lock.is_file()
    proc = sandbox.run(*args, str(script))
    assert report(proc)["alpha"] == "1.0"
    assert "Installed 1 package in " in proc.stderr
    warm = sandbox.run(*args, str(script))
    assert report(warm)["alpha"] == "1.0"
    assert warm.stderr == ""

    # Changed: upgraded to 2.0.
    proc = sandbox.uv("lock", "--script", str(script), "--upgrade")
    assert proc.returncode == 0, proc.stderr
    assert 'version = "2.0"' in lock.read_text()
    proc = sandbox.run(*args, str(script))
    assert report(proc)["alpha"] == "2.0"
    assert "Installed 1 package in " in proc.stderr

    # Removed: back to resolving the block (still exact).
    lock.unlink()
    rewrite(script, deps=["alpha<2"])
    assert report(sandbox.run(*args, str(script)))["alpha"] == "1.0"
    edited(sandbox, env)


def test_lock_file_rewritten_with_the_same_content_does_not_resync(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    assert sandbox.uv("lock", "--script", str(script)).returncode == 0
    report(sandbox.run(str(script)))
    lock = Path(str(script) + ".lock")
    lock.write_text(lock.read_text())  # new mtime, same content
    assert sandbox.uv("cache", "clean").returncode == 0
    proc = sandbox.run(str(script), env=offline_env(sandbox))
    assert report(proc)["alpha"] == "2.0"
    assert proc.stderr == ""


# -- never in uv's cache -------------------------------------------------------------


def cache_environments(sandbox: Sandbox) -> list[str]:
    d = sandbox.cache / "environments-v2"
    return sorted(os.listdir(d)) if d.exists() else []


def test_nothing_under_environments_v2(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py", deps=["alpha", "gamma"])
    empty = sandbox.script("noblock.py", block=False)
    report(sandbox.run(str(script)))  # cold
    report(sandbox.run(str(script)))  # warm
    report(sandbox.run("--no-fast-path", str(script)))  # through uv run
    report(execute(sandbox, script, env={**sandbox.env, "UVLAUNCH_NO_FAST_PATH": "1"}))
    rewrite(script, deps=["beta"])
    report(sandbox.run(str(script)))  # sync
    report(sandbox.run(str(empty)))
    report(sandbox.run("--no-fast-path", str(empty)))
    assert sandbox.cache.is_dir()
    assert cache_environments(sandbox) == []
    assert len(sandbox.envs()) == 2


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "no-fast-path"])
@pytest.mark.parametrize("cleanup", [["clean"], ["prune"], ["prune", "--force"]])
def test_survives_cache_cleanup_and_runs_offline(
    sandbox: Sandbox, cleanup: list[str], fast: bool
) -> None:
    script = sandbox.script("tool.py", deps=["alpha", "gamma"], body=ENV_BODY)
    env = str(report(sandbox.run(str(script)))["VIRTUAL_ENV"])
    proc = sandbox.uv("cache", *cleanup)
    assert proc.returncode == 0, proc.stderr
    if cleanup == ["clean"]:
        assert not (sandbox.cache / "archive-v0").exists() or not os.listdir(
            sandbox.cache / "archive-v0"
        )
    args = [] if fast else ["--no-fast-path"]
    proc = sandbox.run(*args, str(script), env=offline_env(sandbox))
    out = report(proc)
    assert proc.stderr == ""
    assert out["VIRTUAL_ENV"] == env
    assert out["tool_output"] == "gamma-tool ran\n"
    assert [str(e) for e in sandbox.envs()] == [env]


def symlinks_into(top: Path, cache: Path) -> list[str]:
    """Files under ``top`` that are symlinks resolving into ``cache``."""
    cache_real = os.path.realpath(cache)
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                target = os.path.realpath(p)
                if os.path.commonpath([target, cache_real]) == cache_real:
                    found.append(p)
    return found


def _symlink_mode_env(sandbox: Sandbox, how: str) -> dict[str, str]:
    env = dict(sandbox.env)
    if how == "UV_LINK_MODE":
        env["UV_LINK_MODE"] = "symlink"
    else:
        config = sandbox.root / "uv-config" / "uv.toml"
        config.parent.mkdir()
        config.write_text('link-mode = "symlink"\n')
        env.pop("UV_NO_CONFIG")
        env["UV_CONFIG_FILE"] = str(config)
    return env


@pytest.mark.parametrize("how", ["UV_LINK_MODE", "uv.toml"])
def test_symlink_link_mode_is_overridden(sandbox: Sandbox, how: str) -> None:
    env = _symlink_mode_env(sandbox, how)
    # The setting is real: uv on its own would link into the cache.
    control = sandbox.root / "control-venv"
    assert sandbox.uv("venv", str(control), env=env).returncode == 0
    proc = sandbox.uv(
        "pip", "install", "--python", str(control / "bin" / "python"), "alpha", env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert symlinks_into(control, sandbox.cache), "uv did not use symlink mode"

    script = sandbox.script("tool.py", deps=["alpha", "gamma"], body=ENV_BODY)
    report(sandbox.run(str(script), env=env))
    venv = Path(only_env(sandbox))
    assert symlinks_into(venv, sandbox.cache) == []
    # A sync (not only a creation) keeps to it as well.
    rewrite(script, deps=["alpha", "beta", "gamma"], body=ENV_BODY)
    report(sandbox.run("--no-fast-path", str(script), env=env))
    venv = Path(edited(sandbox, str(venv)))
    assert symlinks_into(venv, sandbox.cache) == []
    assert "beta" in installed(venv)

    assert sandbox.uv("cache", "clean", env=env).returncode == 0
    offline = {**env, "UV_OFFLINE": "1"}
    offline.pop("UV_FIND_LINKS")
    for args in ([], ["--no-fast-path"]):
        proc = sandbox.run(*args, str(script), env=offline)
        out = report(proc)
        assert proc.stderr == ""
        assert out["VIRTUAL_ENV"] == str(venv)  # the generation the edit made
        assert out["tool_output"] == "gamma-tool ran\n"


def test_python_dash_m_uvlaunch(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    python = os.path.join(os.path.dirname(UVLAUNCH), "python")
    proc = subprocess.run(
        [python, "-m", "uvlaunch", str(script), "--help"],
        cwd=sandbox.scripts,
        env=sandbox.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = report(proc)
    assert out["argv"] == [str(script), "--help"]
    assert out["VIRTUAL_ENV"] == only_env(sandbox)
    assert json.loads(sandbox.run("where", "--json", str(script)).stdout)["exists"] is True


# -- a first launch: straight to uv, failures explained after ---------------------------


def last_line_names(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The last line of stderr: uvlaunch's one error line, naming ``needles``."""
    detail = f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    assert proc.returncode == 2, detail
    assert "Traceback" not in proc.stderr, detail
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("uvlaunch: error: "), detail
    assert all(n in last for n in needles), detail
    return last


def test_first_launch_uv_error_after_creating_is_shown_with_one_line(sandbox: Sandbox) -> None:
    # uv resolves after it has created the environment: its error (with its cause) is
    # said in uvlaunch's one line; nothing half-built is left behind.
    script = sandbox.script("missing.py", deps=("nosuchpackage",))
    proc = sandbox.run(str(script))
    assert proc.stderr.count("\n") == 1, proc.stderr
    line = last_line_names(proc, str(script), "uv could not create the environment")
    assert "No solution found" in line and "nosuchpackage" in line, line
    # With -v, uv's whole message, as it came.
    loud = sandbox.run("-v", str(script))
    assert "hint:" in loud.stderr or "cause:" in loud.stderr, loud.stderr
    assert sandbox.envs() == []
    assert list((sandbox.home / "trash").iterdir()) == []
    script.write_text(make_script(deps=("alpha",)))
    assert report(sandbox.run(str(script)))["alpha"] == "2.0"


def test_first_launch_uv_error_it_cannot_explain_shows_uvs_words(sandbox: Sandbox) -> None:
    # uv stops before creating the environment for a reason uvlaunch does not name
    # itself: what uv said was held back, and is shown before uvlaunch's line.
    script = sandbox.script("nopython.py")
    env = dict(sandbox.env, UV_PYTHON=str(sandbox.root / "no-such-python"))
    proc = sandbox.run(str(script), env=env)
    last_line_names(proc, str(script), "uv could not create the environment")
    assert "no-such-python" in proc.stderr.splitlines()[0]
    assert sandbox.envs() == []


def test_first_launch_holds_uvs_output_only_until_the_environment_exists(
    sandbox: Sandbox,
) -> None:
    # With -v, uv's debug lines start before the environment exists: held, then shown
    # in the order uv wrote them.
    script = sandbox.script("tool.py")
    proc = sandbox.run("-v", str(script))
    report(proc)
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("DEBUG uv ")
    assert any("Creating script environment" in line for line in lines)
    first_debug = [i for i, line in enumerate(lines) if "Resolved" in line]
    assert first_debug and first_debug[0] > 0


def test_uv_writes_as_to_a_terminal_when_stderr_is_one(sandbox: Sandbox) -> None:
    import pty

    script = sandbox.script("tty.py")

    def cold_start_stderr(env: dict[str, str]) -> bytes:
        for e in sandbox.env_dirs():
            compiled(current_generation(e))  # the last start's compiler has finished
            shutil.rmtree(e)
        master, slave = pty.openpty()
        try:
            proc = subprocess.run(
                [UVLAUNCH, str(script)],
                env=env,
                stderr=slave,
                stdout=subprocess.PIPE,
                cwd=sandbox.scripts,
                timeout=120,
                check=False,
            )
            assert proc.returncode == 0
            os.close(slave)
            chunks = []
            while select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(master)

    coloured = cold_start_stderr(sandbox.env)
    assert b"Installed" in coloured and b"alpha" in coloured
    assert b"\x1b[" in coloured, coloured
    # Line ends turned into \r\n once, by the terminal: uv's own bytes came through as
    # uv wrote them.
    assert b"\r\n" in coloured and b"\r\r\n" not in coloured, coloured
    plain = cold_start_stderr(dict(sandbox.env, NO_COLOR="1"))
    assert b"Installed 1 package" in plain
    assert b"Resolved" not in plain and b" + alpha" not in plain  # as `uv run --script`
    # No colours (uv may still clear lines it drew progress on: it sees a terminal).
    assert not any(code in plain for code in (b"\x1b[36m", b"\x1b[32m", b"\x1b[1m")), plain


def test_first_launch_with_stderr_closed(sandbox: Sandbox) -> None:
    # uv's output has nowhere to go; the launch itself must not mind.
    script = sandbox.script("closed.py")
    proc = sandbox.capture(["/bin/sh", "-c", 'exec "$0" "$1" 2>&-', UVLAUNCH, str(script)])
    assert report(proc)["alpha"] == "2.0"
    assert len(sandbox.envs()) == 1
    assert all(p.stat().st_size == 0 for p in (sandbox.home / "locks").iterdir())


def test_first_launch_when_stderr_reader_has_gone(sandbox: Sandbox) -> None:
    script = sandbox.script("gone.py")
    read, write = os.pipe()
    os.close(read)  # every write to stderr now fails with EPIPE
    try:
        proc = subprocess.run(
            [UVLAUNCH, str(script)],
            cwd=sandbox.scripts,
            env=sandbox.env,
            stdout=subprocess.PIPE,
            stderr=write,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["alpha"] == "2.0"


# -- nothing uv run --script would not print -----------------------------------------

# The three ways a launch proceeds: the native launcher, the Python fast path, the slow path.
LAUNCH_PATHS = ["native", "python", "slow"]


def _said(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr's lines, with uv's timings ("in 3ms", "in 0.86ms") masked."""
    import re

    assert proc.returncode == 0, proc.stderr
    return [re.sub(r" in [0-9.]+m?s$", " in <TIME>", line) for line in proc.stderr.splitlines()]


@pytest.mark.parametrize("path", LAUNCH_PATHS)
def test_a_launch_prints_what_uv_run_prints(sandbox: Sandbox, path: str) -> None:
    """Step by step, a script launched by uvlaunch and its twin by `uv run --script` say
    the same on stderr: nothing for a block with no dependencies (no "Resolved in
    0.86ms"), one "Installed" line when one is added."""
    from conftest import use_launcher

    use_launcher(sandbox, "python" if path == "slow" else path)
    env = {**sandbox.env, "UVLAUNCH_NO_FAST_PATH": "1"} if path == "slow" else sandbox.env
    ours = sandbox.script("ours.py", deps=[], body="print('ran')")
    twin = sandbox.script("twin.py", deps=[], body="print('ran')")
    steps: list[dict[str, object]] = [
        {"deps": []},  # the first launch
        {"deps": []},  # warm
        {"deps": [], "requires_python": ">=3.9"},  # an edit that installs nothing
        {"deps": ["alpha"]},
    ]
    for step in steps:
        for script in (ours, twin):
            script.write_text(make_script(body="print('ran')", **step))  # type: ignore[arg-type]
        mine = execute(sandbox, ours, env=env)
        uvs = sandbox.uv("run", "--script", str(twin))
        assert mine.stdout == uvs.stdout == "ran\n", (step, mine.stderr, uvs.stderr)
        assert _said(mine) == _said(uvs), step
    # Dropping a dependency: uv run --script moves to another environment of its cache
    # and says nothing; uvlaunch builds the edit's generation and says nothing either
    # ("Uninstalled 1 package" is uv sync's report; -v shows it).
    for script in (ours, twin):
        script.write_text(make_script(deps=[], body="print('ran')"))
    mine = execute(sandbox, ours, env=env)
    assert _said(mine) == _said(sandbox.uv("run", "--script", str(twin))) == []
