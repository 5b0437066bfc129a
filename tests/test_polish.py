"""Everyday polish (issue 11): what a newcomer trips over, end to end and offline."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import UVLAUNCH, Sandbox, assert_one_line_error, make_script, settle
from filelock import FileLock

QUIET = "print('ran')"
ARGV = "import sys, alpha; print(alpha.VERSION, sys.argv[1:])"


def listing(sandbox: Sandbox) -> list[dict[str, object]]:
    proc = sandbox.run("list", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def home_files(sandbox: Sandbox) -> list[str]:
    """Every file in the home but the index lock (directories are fine)."""
    if not sandbox.home.exists():
        return []
    return sorted(
        str(p.relative_to(sandbox.home))
        for p in sandbox.home.rglob("*")
        if not p.is_dir() and p.name != "index.lock"
    )


# -- 1. scripts that are not files -----------------------------------------------------


def test_script_from_standard_input(sandbox: Sandbox) -> None:
    text = make_script(deps=("alpha",), body=ARGV)
    proc = sandbox.run("-", "a", "b", input=text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2.0 ['a', 'b']\n"
    # The same block again: the same environment, warm (no uv output).
    again = sandbox.run("-", "c", input=text.replace("print(", "print('again', "))
    assert again.stdout == "again 2.0 ['c']\n" and again.stderr == ""
    # Another block: another environment.
    other = make_script(deps=("alpha", "beta"), body=ARGV)
    assert sandbox.run("-", input=other).returncode == 0
    entries = listing(sandbox)
    assert len(entries) == 2
    assert {e["state"] for e in entries} == {"piped"} and {e["script"] for e in entries} == {None}
    assert "(piped)" in sandbox.run("list").stdout


def test_script_from_a_pipe_path(sandbox: Sandbox) -> None:
    text = make_script(deps=("alpha",), body=ARGV).encode()
    read, write = os.pipe()

    def feed() -> None:
        with os.fdopen(write, "wb") as f:
            f.write(text)

    thread = threading.Thread(target=feed)
    thread.start()
    proc = subprocess.run(
        [UVLAUNCH, f"/dev/fd/{read}", "x"],
        env=sandbox.env,
        pass_fds=(read,),
        capture_output=True,
        text=True,
        timeout=120,
    )
    thread.join()
    os.close(read)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2.0 ['x']\n"
    # Through a shell's process substitution, as `uvlaunch <(curl -sL URL)` does.
    script = sandbox.script("s.py", deps=("alpha",), body=ARGV)
    bash = sandbox.capture(["bash", "-c", f'uvlaunch <(cat "{script}") y'])
    assert bash.returncode == 0 and bash.stdout == "2.0 ['y']\n", bash.stderr
    # One environment: both pipes had the same block, and s.py itself never ran.
    assert [e["state"] for e in listing(sandbox)] == ["piped"]


def test_gc_removes_piped_environments_unused_for_30_days(sandbox: Sandbox) -> None:
    assert sandbox.run("-", input=make_script(deps=("alpha",), body=QUIET)).returncode == 0
    (entry,) = listing(sandbox)
    stamp = Path(str(entry["environment"])) / "uvlaunch-stamp"
    assert "removed" not in sandbox.run("gc").stdout
    assert sandbox.run("gc", "--unused-for", "1d").stdout.startswith("freed 0 B")
    past = time.time() - 31 * 86400
    os.utime(stamp, (past, past))
    proc = sandbox.run("gc")
    assert f"removed {entry['name']}" in proc.stdout and "piped: not launched for 30 days" in (
        proc.stdout
    )
    assert listing(sandbox) == [] and list((sandbox.home / "piped").iterdir()) == []


def test_double_dash_before_the_script(sandbox: Sandbox) -> None:
    sandbox.script("gc", deps=("alpha",), body=ARGV)
    proc = sandbox.run("--", "gc", "--json")
    assert proc.returncode == 0 and proc.stdout == "2.0 ['--json']\n", proc.stderr
    script = sandbox.script("s.py", deps=("alpha",), body=ARGV)
    assert sandbox.run("--", str(script), "-q").stdout == "2.0 ['-q']\n"
    assert sandbox.run("run", "--", str(script), "z").stdout == "2.0 ['z']\n"


# -- 2. errors that name the real problem -------------------------------------------


def test_mistyped_command_suggests_the_nearest(sandbox: Sandbox) -> None:
    line = assert_one_line_error(sandbox.run("lsit"), "lsit")
    assert "did you mean 'list'?" in line
    line = assert_one_line_error(sandbox.run("frobnicate"))
    assert "no such file, and no command of that name" in line


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--upgrade", "s.py"), "no such option"),
        (("run", "--upgrade", "s.py"), "no such option: --upgrade"),
        (("gc", "--bogus"), "no such option"),
        (("where", "--json", "--python", "s.py"), "cannot be used together"),
        (("remove",), "give the scripts or names to remove, or --all"),
        (("upgrade", "--all", "s.py"), "not both"),
    ],
)
def test_usage_errors_point_to_the_help(
    sandbox: Sandbox, args: tuple[str, ...], needle: str
) -> None:
    # As click says them (issue 19): the short usage, one pointer, then one error line.
    proc = sandbox.run(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    usage, pointer, blank, line = proc.stderr.splitlines()
    command = "uvlaunch" if args[0].startswith("-") else f"uvlaunch {args[0]}"
    assert usage.startswith(f"Usage: {command} ") and blank == "", proc.stderr
    assert pointer == f"Try '{command} --help' for help."
    assert line.startswith("uvlaunch: error: ") and needle in line


def test_requires_python_nothing_satisfies_with_downloads_allowed(sandbox: Sandbox) -> None:
    script = sandbox.script(deps=(), requires_python=">=3.99", body=QUIET)
    env = {k: v for k, v in sandbox.env.items() if k != "UV_OFFLINE"}
    env["UV_PYTHON_DOWNLOADS"] = "automatic"
    env["UV_PYTHON_INSTALL_MIRROR"] = "http://127.0.0.1:9/"  # refused at once: no network
    line = assert_one_line_error(sandbox.run(str(script), env=env), ">=3.99")
    assert "no installed Python satisfies" in line and "uv could not download one" in line
    assert "No interpreter found for Python >=3.99" in line  # uv's own words


def test_a_failing_interpreter_shim_is_named(sandbox: Sandbox) -> None:
    fake = sandbox.root / "shims"
    fake.mkdir()
    shim = fake / "python3.12"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    script = sandbox.script(deps=(), requires_python=">=3.12,<3.13", body=QUIET)
    env = {**sandbox.env, "PATH": f"{fake}{os.pathsep}{sandbox.env['PATH']}"}
    line = assert_one_line_error(sandbox.run(str(script), env=env), "python3.12")
    assert "Failed to inspect Python interpreter" in line


# -- 3. a failed first launch leaves nothing ------------------------------------------


def test_a_failed_first_launch_leaves_nothing(sandbox: Sandbox) -> None:
    script = sandbox.script(deps=("nosuchpackage",), body=QUIET)
    for _ in range(3):
        assert_one_line_error(sandbox.run(str(script)))
    assert home_files(sandbox) == []
    assert sandbox.run("list").stdout.strip() == "no environments"
    # And a record left by a launch killed before its environment existed: gc takes it.
    ok = sandbox.script("ok.py", deps=("alpha",), body=QUIET)
    assert sandbox.run(str(ok)).returncode == 0
    settle(sandbox)  # the background compiler writes into it: rm would race it
    (entry,) = listing(sandbox)
    env = Path(str(entry["environment"]))
    subprocess.run(["rm", "-rf", str(env)], check=True)
    proc = sandbox.run("gc")
    assert "leftover: a record with no environment" in proc.stdout, proc.stdout
    assert home_files(sandbox) == [] or all(f.startswith("pyc/") for f in home_files(sandbox))


# -- 5. seeing inside ------------------------------------------------------------------


def test_show_dir_and_exec_without_uv_on_path(sandbox: Sandbox) -> None:
    script = sandbox.script(deps=("alpha", "gamma"), body=QUIET)
    assert sandbox.run(str(script)).returncode == 0
    bare = {**sandbox.env, "PATH": "/usr/bin:/bin"}  # no uv, no uvlaunch venv
    proc = sandbox.run("show", str(script), env=bare)
    assert proc.returncode == 0, proc.stderr
    assert "alpha 2.0" in proc.stdout and "gamma 1.0" in proc.stdout
    assert f"script:        {script}" in proc.stdout
    data = json.loads(sandbox.run("show", "--json", str(script), env=bare).stdout)
    assert data["packages"] == {"alpha": "2.0", "gamma": "1.0"}
    assert data["state"] == "live" and data["script"] == str(script)
    assert sandbox.run("dir", env=bare).stdout.strip() == str(sandbox.home)
    proc = sandbox.run("exec", str(script), "--", "uv", "pip", "list", env=bare)
    assert proc.returncode == 0, proc.stderr
    assert "alpha" in proc.stdout and "gamma" in proc.stdout
    assert "uv pip list" in sandbox.run("exec", "--help").stdout


# -- 6. settings and help --------------------------------------------------------------


def test_relative_home_is_refused(sandbox: Sandbox) -> None:
    script = sandbox.script(deps=("alpha",), body=QUIET)
    env = {**sandbox.env, "UVLAUNCH_HOME": "relhome"}
    for args in ((str(script),), ("list",), ("dir",)):
        assert_one_line_error(sandbox.run(*args, env=env), "must be an absolute path")
    assert not (sandbox.scripts / "relhome").exists()


def test_help_version_and_completion(sandbox: Sandbox) -> None:
    text = sandbox.run("--help").stdout
    for needle in (
        "UVLAUNCH_HOME",
        "UVLAUNCH_UV",
        "UVLAUNCH_NO_FAST_PATH",
        "UVLAUNCH_COMPILE_BYTECODE",
        "go before the script",
        "_UVLAUNCH_COMPLETE",
    ):
        assert needle in text, needle
    commands = text.split("Commands:")[1].split("\n\n")[0]
    assert "..." not in commands
    assert sandbox.run("-V").stdout.strip() == sandbox.run("--version").stdout.strip()
    assert "0.1.0" in sandbox.run("-V").stdout
    assert "--search DIR" in sandbox.run("gc", "--help").stdout
    for shell in ("bash", "zsh", "fish"):
        env = {**sandbox.env, "_UVLAUNCH_COMPLETE": f"{shell}_source"}
        proc = sandbox.run(env=env)
        assert proc.returncode == 0 and "_UVLAUNCH_COMPLETE" in proc.stdout, (shell, proc.stderr)


# -- 7. remove --all -----------------------------------------------------------------------


def test_remove_all_skips_busy(sandbox: Sandbox) -> None:
    scripts = [sandbox.script(f"s{i}.py", deps=("alpha",), body=QUIET) for i in range(3)]
    for s in scripts:
        assert sandbox.run(str(s)).returncode == 0
    names = {str(e["script"]): str(e["name"]) for e in listing(sandbox)}
    busy = names[str(scripts[0])]
    with FileLock(str(sandbox.home / "locks" / f"{busy}.lock")).acquire(timeout=5):
        proc = sandbox.run("remove", "--all")
    assert proc.returncode == 1
    assert f"skipped {busy}" in proc.stderr and "removed 2 environments" in proc.stdout
    assert [e["name"] for e in listing(sandbox)] == [busy]
    proc = sandbox.run("remove", "--all")
    assert proc.returncode == 0 and "removed 1 environment\n" in proc.stdout
    assert listing(sandbox) == []
