"""The environment handle (issue 26): one owner of "may I act here", checked before acting.

Quick tests of ``Env`` itself, and end-to-end ones through every launch path: an
``envs/NAME`` that another user planted (a symlink, a directory of theirs, one anyone
may write) is refused in one line before anything is created inside it. Tests run as
root, so "another user" is a directory chowned to an unused uid.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import Sandbox, assert_one_line_error, report

from uvlaunch.errors import HomeError
from uvlaunch.home.env import Env

STRANGER = 54321  # a uid no one on the test machine has
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown to another uid")


def home(tmp_path: Path) -> str:
    root = tmp_path / "home"
    root.mkdir(mode=0o700)
    return str(root)


def test_a_name_uvlaunch_never_makes_is_no_handle(tmp_path: Path) -> None:
    root = home(tmp_path)
    for bad in ("", "..", "a/b", "x\ny", "-lead"):
        with pytest.raises(HomeError):
            Env(root, bad)


def test_a_new_generation_is_made_private_and_checked(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        env = Env(home(tmp_path), "tool-0123456789")
        first = env.new_generation()
        second = env.new_generation()
    finally:
        os.umask(old)
    assert (os.path.basename(first), os.path.basename(second)) == ("g1", "g2")
    for path in (env.dir, first):
        assert os.stat(path).st_mode & 0o777 == 0o700


@pytest.mark.parametrize("how", ["symlink", "writable", pytest.param("foreign", marks=needs_root)])
def test_nothing_is_created_inside_an_environment_others_control(tmp_path: Path, how: str) -> None:
    root = home(tmp_path)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.makedirs(os.path.join(root, "envs"), mode=0o700)
    env = Env(root, "tool-0123456789")
    if how == "symlink":
        os.symlink(theirs, env.dir)
    else:
        os.mkdir(env.dir, 0o700)
        if how == "writable":
            os.chmod(env.dir, 0o777)
        else:
            os.chown(env.dir, STRANGER, -1)
    for act in (env.new_generation, lambda: env.point("current", "g1"), env.make_dir):
        with pytest.raises(HomeError) as e:
            act()
        assert env.dir in str(e.value)
    assert os.listdir(theirs) == []
    if how != "symlink":
        assert os.listdir(env.dir) == []


# -- end to end, through every launch path ---------------------------------------------


def planned_dir(sandbox: Sandbox, script: Path) -> Path:
    """The directory the script's environment will have (``where`` before a first launch)."""
    proc = sandbox.run("where", "--json", str(script))
    assert proc.returncode == 0, proc.stderr
    return Path(json.loads(proc.stdout)["environment"]).parent


@pytest.mark.parametrize("how", ["symlink", "writable", pytest.param("foreign", marks=needs_root)])
def test_a_planted_environment_directory_is_refused_before_anything_is_built(
    sandbox: Sandbox, launch_path: str, how: str
) -> None:
    script = sandbox.script()
    top = planned_dir(sandbox, script)
    top.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    theirs = sandbox.root / "theirs"
    theirs.mkdir()
    if how == "symlink":
        top.symlink_to(theirs, target_is_directory=True)
    else:
        top.mkdir(mode=0o700)
        if how == "writable":
            top.chmod(0o777)
        else:
            os.chown(top, STRANGER, -1)
    proc = sandbox.run(str(script))
    assert_one_line_error(proc, str(top))
    assert proc.stdout == ""
    assert list(theirs.iterdir()) == []  # no generation, no pointer, nothing of uv's
    if how != "symlink":
        assert list(top.iterdir()) == []
    # Taken away, the next launch builds as usual.
    if how == "symlink":
        top.unlink()
    else:
        top.rmdir()
    assert report(sandbox.run(str(script)))["alpha"] == "2.0"


# The warm path keeps strings (docs/architecture.md says why); so does the handle's own
# primitives' module, and the record read by the name an index entry gave.
WARM_PATH = {"launching/fastpath.py", "home/paths.py", "home/pointer.py", "home/warm.py"}
# The index maps a path to a name: there a name is the value written, not a place.
READERS = {
    "home/usage.py": {"record", "last_used"},
    "home/records.py": {"read_record"},
    "home/index.py": {"write_path_entry"},
}


def test_what_acts_on_one_environment_takes_the_handle() -> None:
    """No function above the home layer (and none of the home's that acts on one
    environment) takes ``root: str`` and ``name: str``: it takes an ``Env``."""
    import ast

    src = Path(__file__).parent.parent / "src" / "uvlaunch"
    found = []
    for path in sorted(src.rglob("*.py")):
        where = path.relative_to(src).as_posix()
        if where in WARM_PATH or where.startswith(("cli/", "scripts/", "uv/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if node.name in READERS.get(where, set()) or node.name == "__init__":
                continue
            strings = {
                a.arg
                for a in node.args.args + node.args.kwonlyargs
                if isinstance(a.annotation, ast.Name) and a.annotation.id == "str"
            }
            if {"root", "name"} <= strings:
                found.append(f"{where}:{node.lineno} {node.name}")
    assert found == []


def test_the_environment_lock_is_the_handles() -> None:
    import inspect

    from uvlaunch.home import store

    for fn in (store.env_lock, store.hold_env_lock, store.holder, store.try_env_lock):
        assert "name" not in inspect.signature(fn).parameters, fn
