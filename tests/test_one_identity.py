"""One identity per script, kept the same way by every launch path (issue 25, items 1, 4, 5).

Each case runs through the native launcher, the Python fast path and the slow path
(``path``): a name of the file is recorded however it was started, a damaged index is
repaired and never costs the script its environment, and a new file that was given a
deleted script's inode is not taken for that script.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import (
    Sandbox,
    assert_one_line_error,
    compiled,
    execute,
    make_script,
    must_be_warm,
    report,
    use_launcher,
)

PATHS = ["native", "python", "slow"]


def choose(sandbox: Sandbox, path: str) -> None:
    """Make every start in ``sandbox`` go through the launch path ``path``."""
    use_launcher(sandbox, "python" if path == "slow" else path)
    if path == "slow":
        sandbox.env["UVLAUNCH_NO_FAST_PATH"] = "1"


def record_of(sandbox: Sandbox, env: Path) -> dict[str, object]:
    name = env.parent.name
    data: dict[str, object] = json.loads((sandbox.home / "records" / f"{name}.json").read_text())
    return data


def listing(sandbox: Sandbox) -> list[dict[str, object]]:
    proc = sandbox.run("list", "--json")
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout))


def gc(sandbox: Sandbox) -> subprocess.CompletedProcess[str]:
    proc = sandbox.run("gc")
    assert proc.returncode == 0, f"stdout:{proc.stdout}\nstderr:{proc.stderr}"
    return proc


# -- 1: a second name started warm is recorded ---------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_a_second_name_started_warm_is_recorded_and_keeps_the_environment(
    sandbox: Sandbox, path: str
) -> None:
    choose(sandbox, path)
    script = sandbox.script("a.py")
    report(execute(sandbox, script))
    report(execute(sandbox, script))  # warm
    (env,) = sandbox.envs()
    other = sandbox.root / "elsewhere" / "b.py"
    other.parent.mkdir()
    os.link(script, other)
    report(execute(sandbox, script))
    assert report(execute(sandbox, other))["prefix"] == str(env)
    # Recorded by the first start under the new name, warm from then on by either name.
    with must_be_warm(sandbox):
        assert report(execute(sandbox, other))["prefix"] == str(env)
        assert report(execute(sandbox, script))["prefix"] == str(env)
    rec = record_of(sandbox, env)
    assert str(other) in [rec["script"], *rec.get("names", [])], rec  # type: ignore[misc]
    script.unlink()
    proc = gc(sandbox)
    assert sandbox.envs() == [env], proc.stdout
    (entry,) = listing(sandbox)
    assert entry["state"] == "live" and entry["script"] == str(other), entry
    report(execute(sandbox, other))  # the unlink changed its ctime: checked once again
    with must_be_warm(sandbox):
        assert report(execute(sandbox, other))["prefix"] == str(env)


# -- 4: a damaged index is repaired, and never costs the script its environment -----------


def damage(entry: Path, how: str) -> None:
    if entry.exists() or entry.is_symlink():
        entry.unlink()
    if how == "empty":
        entry.write_bytes(b"")
    elif how == "garbage":
        entry.write_bytes(b"\xff\x00not a name\n" * 10)
    elif how == "directory":
        entry.mkdir()
        (entry / "inside").write_text("x")
    elif how == "fifo":
        os.mkfifo(entry)
    elif how == "no-such-env":
        entry.write_text("no-such-environment-0123456789")
    else:
        assert how == "missing"


DAMAGE = ["missing", "empty", "garbage", "directory", "fifo", "no-such-env"]


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("path", PATHS)
def test_a_damaged_inode_entry_is_repaired_and_a_move_keeps_the_environment(
    sandbox: Sandbox, path: str, how: str
) -> None:
    choose(sandbox, path)
    script = sandbox.script("s.py")
    report(execute(sandbox, script))
    (env,) = sandbox.envs()
    st = script.stat()
    entry = sandbox.home / "index" / f"ino-{st.st_dev}-{st.st_ino}"
    assert entry.read_text() == env.parent.name
    damage(entry, how)
    assert report(execute(sandbox, script, timeout=60))["prefix"] == str(env)
    moved = sandbox.root / "moved" / "t.py"
    moved.parent.mkdir()
    script.rename(moved)
    assert report(execute(sandbox, moved, timeout=60))["prefix"] == str(env)
    assert sandbox.envs() == [env]
    assert entry.is_file() and entry.read_text() == env.parent.name
    gc(sandbox)
    assert sandbox.envs() == [env]
    with must_be_warm(sandbox):
        assert report(execute(sandbox, moved))["prefix"] == str(env)


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_path_entry_is_repaired_by_the_next_slow_launch(
    sandbox: Sandbox, how: str
) -> None:
    choose(sandbox, "slow")
    script = sandbox.script("s.py")
    report(execute(sandbox, script))
    (env,) = sandbox.envs()
    (entry,) = (sandbox.home / "index").glob("path-*")
    damage(entry, how)
    assert report(execute(sandbox, script, timeout=60))["prefix"] == str(env)
    assert entry.is_file() and entry.read_text() == env.parent.name
    # An editor's atomic save (a new inode at the same path) finds it by path.
    saved = script.with_name("s.py.tmp")
    saved.write_text(script.read_text())
    saved.chmod(0o755)
    saved.replace(script)
    assert report(execute(sandbox, script))["prefix"] == str(env)
    assert sandbox.envs() == [env]


# -- 5: a new file given a deleted script's inode is not that script ----------------------


def reuse_inode(old: Path, new: Path, text: str) -> None:
    """Delete ``old`` and create ``new``; skip unless the filesystem gave it the same inode."""
    ino = old.stat().st_ino
    old.unlink()
    # Something else may take the inode first: a few tries.
    tries = [new.with_name(f".try-{i}") for i in range(50)]
    for attempt in tries:
        attempt.write_text(text)
        if attempt.stat().st_ino == ino:
            attempt.rename(new)
            break
    for attempt in tries:
        attempt.unlink(missing_ok=True)
    if not new.exists():
        pytest.skip("the filesystem did not give a new file the freed inode")
    new.chmod(0o755)


@pytest.mark.parametrize("path", PATHS)
def test_a_new_file_with_a_reused_inode_gets_an_environment_of_its_own(
    sandbox: Sandbox, path: str
) -> None:
    choose(sandbox, path)
    script = sandbox.script("a.py")
    report(execute(sandbox, script))
    (env,) = sandbox.envs()
    compiled(env)  # its compiler recorded the script's birth time, and made no more files
    report(execute(sandbox, script))
    new = sandbox.scripts / "new.py"
    # The same text, block and owner: only the birth time tells them apart.
    reuse_inode(script, new, script.read_text())
    out = report(execute(sandbox, new))
    assert out["prefix"] != str(env)
    assert len(sandbox.envs()) == 2
    rec = record_of(sandbox, env)
    assert rec["script"] == str(script), rec  # still the deleted script's
    assert {e["script"]: e["state"] for e in listing(sandbox)} == {
        str(script): "orphaned",
        str(new): "live",
    }


@pytest.mark.parametrize("path", PATHS)
def test_a_move_then_an_edit_keeps_the_environment_with_compiling_off(
    sandbox: Sandbox, path: str
) -> None:
    """With no background compiler (UVLAUNCH_COMPILE_BYTECODE=0) to note the script's
    birth time, a first launch notes it itself: a file moved, then given another block
    before it is started again, is the same file (found by hypothesis in the identity
    model: it built a second environment)."""
    choose(sandbox, path)
    sandbox.env["UVLAUNCH_COMPILE_BYTECODE"] = "0"
    script = sandbox.script("a.py", deps=("alpha==1.0",))
    report(execute(sandbox, script))
    (env,) = sandbox.envs()
    report(execute(sandbox, script))
    moved = sandbox.scripts / "moved.py"
    os.rename(script, moved)
    moved.write_text(make_script(deps=("alpha==2.0",)))  # in place: the same inode
    out = report(execute(sandbox, moved))
    assert out["alpha"] == "2.0"
    assert Path(str(out["prefix"])).parent == env.parent, "a second environment"
    assert len(sandbox.env_dirs()) == 1


@pytest.mark.parametrize("path", PATHS)
def test_an_installed_command_does_not_follow_its_inode_to_a_new_file(
    sandbox: Sandbox, path: str
) -> None:
    choose(sandbox, path)
    sandbox.env["UVLAUNCH_COMPILE_BYTECODE"] = "0"  # no compiler making files meanwhile
    sandbox.env["UVLAUNCH_BIN_DIR"] = str(sandbox.root / "bin")
    script = sandbox.scripts / "tool.py"
    script.write_text(make_script())
    proc = sandbox.run("install", str(script))
    assert proc.returncode == 0, proc.stderr
    command = sandbox.root / "bin" / "tool"
    report(sandbox.capture([str(command)]))
    other = sandbox.scripts / "other.py"
    reuse_inode(script, other, "print('the new file ran')\n")
    proc = sandbox.capture([str(command)])
    assert_one_line_error(proc, str(script), "is gone")
    assert proc.stdout == ""
    assert b"other.py" not in command.read_bytes()


def test_gc_search_does_not_take_a_new_file_with_a_reused_inode_for_the_script(
    sandbox: Sandbox,
) -> None:
    script = sandbox.script("tool.py")
    report(sandbox.run(str(script)))
    (env,) = sandbox.envs()
    compiled(env)  # its compiler recorded the script's birth time
    # The same block: all that the search went by before, with the same inode.
    new = sandbox.scripts / "new.py"
    reuse_inode(script, new, script.read_text())
    proc = sandbox.run("gc", "--search", str(sandbox.scripts))
    assert proc.returncode == 0, proc.stderr
    assert sandbox.envs() == [], proc.stdout  # the script's environment, orphaned, went
    assert listing(sandbox) == []
