"""Launches from a home that cannot be written (issue 25, item 8), through every launch
path: the native launcher, the Python fast path and the slow path (readonly.py).

An environment that is built and up to date starts, whatever made the fast path hand
over (no warm record, a touched file, an editor's save, ``--no-fast-path``), and its use
is recorded in the state directory (usage.py; tests/test_usage.py has what gc does with
it). What must write is refused in one line that says why. The read-only home is a
read-only bind mount in a mount namespace of the test's own, as in tests/test_usage.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Sandbox, assert_one_line_error, make_script, report
from test_usage import from_read_only_home, read_only_reason

from uvlaunch.home import usage


@pytest.fixture(autouse=True)
def _can_mount() -> None:
    reason = read_only_reason()
    if reason is not None:
        pytest.skip(reason)


def used(sandbox: Sandbox) -> list[str]:
    """The uses recorded in the (default) state directory for the sandbox's home."""
    top = sandbox.root / "user-home" / ".local" / "state" / "uvlaunch" / "used"
    top = top / usage.home_key(str(sandbox.home))
    return sorted(p.name for p in top.iterdir() if p.name != "home") if top.is_dir() else []


def built(sandbox: Sandbox, name: str = "daily.py") -> tuple[Path, Path]:
    """A script launched twice where the home is writable; (it, its generation)."""
    script = sandbox.script(name)
    first = report(sandbox.run(str(script)))
    report(sandbox.run(str(script)))
    return script, Path(str(first["prefix"]))


@pytest.mark.parametrize("case", ["as-is", "no-warm-record", "touched", "saved"])
def test_an_up_to_date_environment_starts_and_counts_as_use(
    sandbox: Sandbox, launch_path: str, case: str
) -> None:
    script, generation = built(sandbox)
    if case == "no-warm-record":
        for record in (sandbox.home / "warm").iterdir():
            record.unlink()
    elif case == "touched":
        os.utime(script, (1, 1))  # the block is compared, not the file's time
    elif case == "saved":  # an editor's atomic save: a new inode at the recorded path
        saved = script.with_name("daily.py.new")
        saved.write_text(script.read_text())
        saved.chmod(0o755)
        saved.replace(script)
    stamp = generation / "uvlaunch-stamp"
    before = stamp.stat().st_mtime_ns
    ran = from_read_only_home(sandbox, sandbox.command, str(script))
    assert report(ran)["prefix"] == str(generation)
    assert stamp.stat().st_mtime_ns == before  # the home was not written
    (name,) = (p.name for p in sandbox.env_dirs())
    assert used(sandbox) == [f"{name}.current"]


def test_run_and_exec_start_from_a_read_only_home(sandbox: Sandbox) -> None:
    script, generation = built(sandbox)
    ran = from_read_only_home(sandbox, sandbox.command, "run", str(script))
    assert report(ran)["prefix"] == str(generation)
    code = "import sys; print(sys.prefix)"
    ran = from_read_only_home(
        sandbox, sandbox.command, "exec", str(script), "--", "python", "-c", code
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"{generation}\n"


@pytest.mark.parametrize("case", ["first", "edited", "moved", "linked"])
def test_what_must_write_is_one_line_that_says_why(
    sandbox: Sandbox, launch_path: str, case: str
) -> None:
    if case == "first":
        script = sandbox.script("daily.py")
        sandbox.home.mkdir(mode=0o700)  # there, but without an environment for it
        why = "it has no environment yet"
    else:
        script, _ = built(sandbox)
        if case == "edited":
            script.write_text(make_script(deps=("alpha", "beta")))
            why = "its block changed since its environment was synced"
        elif case == "moved":
            script = script.rename(script.with_name("moved.py"))
            why = "uvlaunch knows it by another name"
        else:
            linked = script.with_name("linked.py")
            os.link(script, linked)
            script = linked
            why = "uvlaunch knows it by another name"
    proc = from_read_only_home(sandbox, sandbox.command, str(script))
    line = assert_one_line_error(proc, str(script), why)
    assert "cannot be written here" in line and "read-only file system" in line.lower(), line
    assert used(sandbox) == []


def test_a_piped_script_from_a_read_only_home_says_why(sandbox: Sandbox) -> None:
    script, _ = built(sandbox)
    proc = from_read_only_home(
        sandbox, "sh", "-c", 'exec "$0" - < "$1"', sandbox.command, str(script)
    )
    assert_one_line_error(proc, "<stdin>", "a script from a pipe is kept in uvlaunch's home")
