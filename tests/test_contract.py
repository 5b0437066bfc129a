"""The contract between the native launcher and Python, written once (contract.py).

launcher.c spells each constant out in C; these tests read launcher.c and fail when it
drifts from contract.py, and check that both launchers read the settings they share
the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from conftest import Sandbox, is_native, must_be_warm, report

from uvlaunch import contract, main
from uvlaunch.cli.app import cli
from uvlaunch.home import names, pointer, stamp, warm

SOURCE = Path(__file__).resolve().parent.parent / "src" / "uvlaunch" / "native" / "launcher.c"
C = SOURCE.read_text()


def define(name: str) -> str:
    found = re.search(rf"^#define {name} (.+?)\s*(/\*.*)?$", C, re.M)
    assert found, f"launcher.c has no #define {name}"
    value = found.group(1)
    return value[1:-1] if value.startswith('"') else value


def string_array(name: str) -> tuple[str, ...]:
    found = re.search(rf"static const char \*const {name}\[\] = \{{(.*?)\}};", C, re.S)
    assert found, f"launcher.c has no array {name}"
    words = re.findall(r'"([^"]*)"|(NULL)', found.group(1))
    assert words[-1] == ("", "NULL"), f"{name} must end in NULL"
    return tuple(w for w, _ in words[:-1])


def test_subcommands_are_the_same_in_c_python_and_the_cli() -> None:
    assert string_array("SUBCOMMANDS") == contract.SUBCOMMANDS
    assert frozenset(contract.SUBCOMMANDS) == main.SUBCOMMANDS
    assert isinstance(cli, click.Group)
    assert set(cli.commands) == set(contract.SUBCOMMANDS)


def test_the_home_directories_checked_are_the_same() -> None:
    assert string_array("HOME_DIRS") == contract.HOME_DIRS


def test_no_fast_path_values_are_the_same() -> None:
    assert string_array("TRUTHY") == contract.TRUTHY


def test_warm_record_layout_is_the_same() -> None:
    found = re.search(r"enum \{ (F_MAGIC.*?) \};", C, re.S)
    assert found
    names = [n.strip() for n in found.group(1).split(",")]
    assert names[-1] == "WARM_FIELDS"
    assert tuple(n.removeprefix("F_").lower() for n in names[:-1]) == contract.WARM_FIELDS
    assert define("WARM_MAGIC") == contract.WARM_MAGIC == warm.MAGIC
    assert int(define("WARM_MAX")) == contract.WARM_MAX == warm.MAX_SIZE
    assert len(contract.WARM_FIELDS) == warm.FIELDS


def test_stamp_and_name_limits_are_the_same() -> None:
    assert define("STAMP_MAGIC") == contract.STAMP_MAGIC == stamp.MAGIC
    assert define("STAMP_END") == contract.STAMP_END == stamp.END
    assert int(define("MAX_NAME")) == contract.MAX_NAME
    assert names.is_safe_name("a" * contract.MAX_NAME)
    assert not names.is_safe_name("a" * (contract.MAX_NAME + 1))
    assert define("PY_NAME") == contract.PY_NAME
    assert int(define("MAX_GENERATION")) == contract.MAX_GENERATION == pointer.MAX_DIGITS
    assert int(define("VARIANT_DIGITS")) == contract.VARIANT_DIGITS == pointer.KEY_DIGITS


def test_where_use_is_recorded_is_the_same() -> None:
    assert define("STATE_APP") == contract.STATE_APP
    assert define("USED_DIR") == contract.USED_DIR
    assert int(define("FNV_OFFSET"), 16) == contract.FNV_OFFSET
    assert int(define("FNV_PRIME"), 16) == contract.FNV_PRIME


# -- both launchers read the shared settings alike ------------------------------------


@pytest.mark.usefixtures("launcher")
@pytest.mark.parametrize("value", ["0", "no", "", "false"])
def test_a_false_no_fast_path_setting_keeps_the_fast_path(sandbox: Sandbox, value: str) -> None:
    script = sandbox.script()
    report(sandbox.run(str(script)))
    env = dict(sandbox.env, UVLAUNCH_NO_FAST_PATH=value)
    with must_be_warm(sandbox):
        report(sandbox.run(str(script), env=env))


@pytest.mark.usefixtures("launcher")
@pytest.mark.parametrize("value", ["1", "YES", "true", "On"])
def test_a_true_no_fast_path_setting_goes_through_uv(sandbox: Sandbox, value: str) -> None:
    script = sandbox.script()
    report(sandbox.run(str(script)))
    env = dict(sandbox.env, UVLAUNCH_NO_FAST_PATH=value)
    # Through uv, `sys.executable` is what uv gives: the same environment either way;
    # what tells the ways apart is that uv runs, which a missing uv binary makes fail.
    env["UVLAUNCH_UV"] = str(sandbox.root / "no-uv-here")
    proc = sandbox.run(str(script), env=env)
    assert proc.returncode != 0, proc.stdout


@pytest.mark.usefixtures("launcher")
def test_the_native_launcher_takes_warm_starts_under_the_default_home(sandbox: Sandbox) -> None:
    env = dict(sandbox.env)
    del env["UVLAUNCH_HOME"]  # platformdirs' place under HOME
    script = sandbox.script()
    report(sandbox.run(str(script), env=env))
    home = Path(sandbox.run("dir", env=env).stdout.strip())
    assert home.is_relative_to(Path(env["HOME"])), home
    assert (home / "envs").is_dir()
    with must_be_warm(sandbox):
        report(sandbox.run(str(script), env=env))
    if is_native(sandbox.command):
        assert not (sandbox.home / "envs").exists()
