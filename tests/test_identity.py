"""Identity: one environment per script file, found by inode and then by path.

The end-to-end cases run the script through the real ``uvlaunch`` and uv and look at
which environment the script reports it ran in (VIRTUAL_ENV, sys.prefix), how many
environments exist, and what ``uvlaunch where --json`` records. The quick ones at the
end check identity.py's functions on files in tmp_path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Sandbox, execute, make_script, report
from hypothesis import given
from hypothesis import strategies as st

from uvlaunch.errors import ScriptError
from uvlaunch.home import names
from uvlaunch.scripts import identity


def where_json(sandbox: Sandbox, script: Path | str) -> dict[str, object]:
    proc = sandbox.run("where", "--json", str(script))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def first_launch(sandbox: Sandbox, script: Path) -> str:
    """Launch ``script`` cold; returns its environment directory."""
    first = report(sandbox.run(str(script)))
    assert first["alpha"] == "2.0"
    assert len(sandbox.envs()) == 1
    env = str(sandbox.envs()[0])
    assert first["VIRTUAL_ENV"] == env
    assert first["prefix"] == env
    return env


def assert_same_env_no_reinstall(
    sandbox: Sandbox, proc: subprocess.CompletedProcess[str], env: str
) -> dict[str, object]:
    out = report(proc)
    assert out["VIRTUAL_ENV"] == env
    assert out["prefix"] == env
    assert out["alpha"] == "2.0"
    assert [str(e) for e in sandbox.envs()] == [env]
    # Nothing was installed again: neither uv nor uvlaunch said anything.
    assert proc.stderr == ""
    return out


def test_run_twice_same_environment(sandbox: Sandbox) -> None:
    script = sandbox.script("twice.py")
    env = first_launch(sandbox, script)
    assert_same_env_no_reinstall(sandbox, sandbox.run(str(script)), env)
    # The slow path (uv run) finds the same one too.
    assert_same_env_no_reinstall(sandbox, sandbox.run("--no-fast-path", str(script)), env)
    assert where_json(sandbox, script)["environment"] == env


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "no-fast-path"])
def test_moved_and_renamed_same_environment(sandbox: Sandbox, fast: bool) -> None:
    script = sandbox.script("before.py")
    env = first_launch(sandbox, script)
    target = sandbox.root / "elsewhere" / "deeper" / "after.py"
    target.parent.mkdir(parents=True)
    os.rename(script, target)
    args = [] if fast else ["--no-fast-path"]
    out = assert_same_env_no_reinstall(sandbox, sandbox.run(*args, str(target)), env)
    assert out["argv"] == [str(target)]
    found = where_json(sandbox, target)
    assert found["script"] == str(target)
    assert found["environment"] == env
    assert found["exists"] is True
    # Renamed in place, then run through its shebang: still the same environment.
    renamed = target.with_name("renamed-again")
    os.rename(target, renamed)
    assert_same_env_no_reinstall(sandbox, execute(sandbox, renamed), env)
    assert where_json(sandbox, renamed)["script"] == str(renamed)


def _save_with_replace(path: Path, text: str) -> None:
    # What vim, VS Code and JetBrains do: write a new file, rename it over the old one.
    tmp = path.with_name(path.name + ".swp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, path)


@pytest.mark.parametrize("how", ["os.replace", "sed -i"])
def test_atomic_save_same_environment(sandbox: Sandbox, how: str) -> None:
    script = sandbox.script("edited.py")
    env = first_launch(sandbox, script)
    old_ino = script.stat().st_ino
    if how == "os.replace":
        _save_with_replace(script, script.read_text() + "# edited\n")
    else:
        subprocess.run(["sed", "-i", "$a # edited", str(script)], check=True)
    assert script.stat().st_ino != old_ino, "the save did not make a new inode"
    assert script.read_text().endswith("\n# edited\n")
    assert_same_env_no_reinstall(sandbox, sandbox.run(str(script)), env)
    found = where_json(sandbox, script)
    assert found["environment"] == env
    assert found["script"] == str(script)
    # The new inode is recorded: the fast path takes it now, and a second save works too.
    assert_same_env_no_reinstall(sandbox, sandbox.run(str(script)), env)
    _save_with_replace(script, script.read_text())
    assert_same_env_no_reinstall(sandbox, execute(sandbox, script), env)


def test_atomic_save_that_changes_the_block_syncs_the_same_environment(
    sandbox: Sandbox,
) -> None:
    script = sandbox.script("edited.py", deps=["alpha<2"])
    first = report(sandbox.run(str(script)))
    assert first["alpha"] == "1.0"
    env = sandbox.envs()[0]
    _save_with_replace(script, make_script(deps=["alpha>=2"]))
    out = report(sandbox.run(str(script)))
    assert out["alpha"] == "2.0"
    # The same environment, in a new generation (an edit never changes one in place).
    assert Path(str(out["VIRTUAL_ENV"])).parent == env.parent
    assert out["VIRTUAL_ENV"] != str(env)
    assert [e.parent for e in sandbox.envs()] == [env.parent]


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "no-fast-path"])
def test_symlink_same_environment(sandbox: Sandbox, fast: bool) -> None:
    script = sandbox.script("real.py")
    env = first_launch(sandbox, script)
    links = sandbox.root / "bin"
    links.mkdir()
    link = links / "tool"
    link.symlink_to(script)
    args = [] if fast else ["--no-fast-path"]
    out = assert_same_env_no_reinstall(sandbox, sandbox.run(*args, str(link)), env)
    assert out["argv"] == [str(link)]  # as invoked, not resolved
    assert_same_env_no_reinstall(sandbox, execute(sandbox, link), env)
    found = where_json(sandbox, link)
    assert found["environment"] == env
    assert found["script"] == str(script)  # the target counts
    # A symlink to the symlink, relative: still the target.
    link2 = links / "tool2"
    link2.symlink_to("tool")
    assert_same_env_no_reinstall(sandbox, sandbox.run(*args, str(link2)), env)


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "no-fast-path"])
def test_symlink_first_launch_then_real_file(sandbox: Sandbox, fast: bool) -> None:
    script = sandbox.script("real.py", directory=sandbox.root / "src")
    link = sandbox.scripts / "tool"
    link.symlink_to(script)
    args = [] if fast else ["--no-fast-path"]
    env = first_launch(sandbox, link)
    assert_same_env_no_reinstall(sandbox, sandbox.run(*args, str(script)), env)
    assert where_json(sandbox, script)["script"] == str(script)


def _lock_pinning_alpha_1(sandbox: Sandbox, script: Path) -> Path:
    """``uv lock --script`` with only alpha 1.0 available: the lock pins alpha 1.0."""
    old = sandbox.root / "only-alpha-1"
    old.mkdir(exist_ok=True)
    wheelhouse = Path(sandbox.env["UV_FIND_LINKS"])
    shutil.copy(wheelhouse / "alpha-1.0-py3-none-any.whl", old)
    proc = sandbox.uv(
        "lock", "--script", str(script), env={**sandbox.env, "UV_FIND_LINKS": str(old)}
    )
    assert proc.returncode == 0, proc.stderr
    lock = Path(str(script) + ".lock")
    assert lock.is_file()
    assert 'version = "1.0"' in lock.read_text()
    return lock


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "no-fast-path"])
def test_symlink_lock_file_is_looked_up_next_to_the_real_file(sandbox: Sandbox, fast: bool) -> None:
    script = sandbox.script("real.py", directory=sandbox.root / "src")
    link = sandbox.scripts / "tool.py"
    link.symlink_to(script)
    args = [] if fast else ["--no-fast-path"]
    env = first_launch(sandbox, link)
    real_lock = _lock_pinning_alpha_1(sandbox, script)

    # A lock file next to the symlink is not the script's: ignored, no sync.
    decoy = Path(str(link) + ".lock")
    os.replace(real_lock, decoy)
    assert_same_env_no_reinstall(sandbox, sandbox.run(*args, str(link)), env)

    # The lock file next to the real file is: the environment follows it.
    os.replace(decoy, real_lock)
    out = report(sandbox.run(*args, str(link)))
    assert out["alpha"] == "1.0"
    assert Path(str(out["VIRTUAL_ENV"])).parent == Path(env).parent  # a new generation of it
    warm = sandbox.run(*args, str(link))
    assert report(warm)["alpha"] == "1.0"
    assert warm.stderr == ""
    assert [e.parent for e in sandbox.envs()] == [Path(env).parent]


def test_hard_link_same_environment(sandbox: Sandbox) -> None:
    script = sandbox.script("original.py")
    env = first_launch(sandbox, script)
    other_dir = sandbox.root / "other"
    other_dir.mkdir()
    hard = other_dir / "hardlinked.py"
    os.link(script, hard)
    out = assert_same_env_no_reinstall(sandbox, sandbox.run(str(hard)), env)
    assert out["argv"] == [str(hard)]
    assert_same_env_no_reinstall(sandbox, execute(sandbox, hard), env)
    assert_same_env_no_reinstall(sandbox, sandbox.run("--no-fast-path", str(hard)), env)
    # The original still works and is still the same.
    assert_same_env_no_reinstall(sandbox, sandbox.run(str(script)), env)
    assert where_json(sandbox, hard)["environment"] == env


def test_copy_gets_its_own_environment(sandbox: Sandbox) -> None:
    script = sandbox.script("original.py")
    env = first_launch(sandbox, script)
    copy = sandbox.scripts / "copy.py"
    shutil.copy2(script, copy)
    out = report(sandbox.run(str(copy)))
    assert out["alpha"] == "2.0"
    assert out["VIRTUAL_ENV"] != env
    envs = [str(e) for e in sandbox.envs()]
    assert len(envs) == 2
    assert env in envs and out["VIRTUAL_ENV"] in envs
    assert where_json(sandbox, copy)["environment"] == out["VIRTUAL_ENV"]
    # Each keeps its own from now on.
    assert report(sandbox.run(str(script)))["VIRTUAL_ENV"] == env
    assert report(sandbox.run(str(copy)))["VIRTUAL_ENV"] == out["VIRTUAL_ENV"]


def test_copy_in_the_same_directory_after_the_original_moved_away(sandbox: Sandbox) -> None:
    # A copy placed where the original used to be is still a different script once the
    # original has been run from its new place (its record follows it).
    script = sandbox.script("tool.py")
    env = first_launch(sandbox, script)
    moved = sandbox.scripts / "moved.py"
    os.rename(script, moved)
    assert report(sandbox.run(str(moved)))["VIRTUAL_ENV"] == env
    shutil.copy2(moved, script)
    out = report(sandbox.run(str(script)))
    assert out["VIRTUAL_ENV"] != env
    assert len(sandbox.envs()) == 2


# -- quick: identity.py's functions --------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "stem"),
    [
        ("report.py", "report"),
        ("report", "report"),
        ("My Report!.py", "My_Report"),
        ("Caf\u00e9 na\u00efve.py", "Cafe_naive"),
        ("\u65e5\u672c.py", "script"),  # nothing left in ASCII
        ("--x--.py", "x"),
        (".py", "py"),
        ("a" * 100 + ".py", "a" * names.MAX_STEM),
    ],
)
def test_safe_stem(file_name: str, stem: str) -> None:
    assert names.safe_stem("/any/dir/" + file_name) == stem


@given(st.text(min_size=1).filter(lambda t: "/" not in t and "\0" not in t))
def test_every_name_made_from_a_file_name_is_safe(file_name: str) -> None:
    stem = names.safe_stem("/d/" + file_name)
    assert names.is_safe_name(f"{stem}-0123456789")
    assert names.is_safe_name(f"{stem}-0123abcd01234567")  # a taken name's longer one


@pytest.mark.parametrize(
    "name", ["", "-x", "_x", "a/b", "..", "a b", "caf\u00e9", "x" * (names.MAX_STEM + 21)]
)
def test_names_uvlaunch_never_makes_are_not_safe(name: str) -> None:
    assert not names.is_safe_name(name)


def test_resolve_follows_symlinks_to_the_file(tmp_path: Path) -> None:
    real = tmp_path / "real.py"
    real.write_text("pass\n")
    link = tmp_path / "link.py"
    link.symlink_to(real)
    ident = identity.resolve(str(link))
    st = real.stat()
    assert (ident.invoked, ident.path, ident.dev, ident.ino) == (
        str(link),
        str(real),
        st.st_dev,
        st.st_ino,
    )
    assert names.lock_file(ident.path) == str(real) + ".lock"


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", "no such file"),
        ("dangling", "is a symlink to"),
        ("directory", "is a directory"),
        ("fifo", "is not a regular file"),
        ("kernel", "is a file the kernel makes"),
    ],
)
def test_resolve_refuses_what_is_not_a_script(tmp_path: Path, kind: str, words: str) -> None:
    path = tmp_path / "x.py"
    if kind == "dangling":
        path.symlink_to(tmp_path / "gone.py")
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "kernel":
        if not os.path.exists("/proc/self/status"):
            pytest.skip("no /proc")
        path = Path("/proc/self/status")
    with pytest.raises(ScriptError) as caught:
        identity.resolve(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and words in message and "\n" not in message
