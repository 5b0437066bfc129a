"""The next edit's generation, made ahead (building/spare.py, issue 25's edit figure).

After a block edit, the background compiler clones the current generation into the
next one (``gK``), has uv learn its interpreter, notes whose clone it is and points
``envs/NAME/spare`` at it. The next edit takes it only when it is exactly what that
edit would have cloned: a spare of another generation, a damaged one or a missing one
is never taken, an edit still gives the block's packages, and what is not taken goes
at the next prune. Every launch path: the edit is decided wherever the launch starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import (
    Sandbox,
    current_generation,
    edited_with_spare,
    make_script,
    report,
    settle,
)


def spare_of(env_dir: Path) -> Path | None:
    link = env_dir / "spare"
    return env_dir / os.readlink(link) if link.is_symlink() else None


def test_an_edit_takes_the_spare_its_last_edit_made(sandbox: Sandbox, launch_path: str) -> None:
    script, env_dir, spare = edited_with_spare(sandbox)
    before = current_generation(env_dir)
    script.write_text(make_script(deps=("alpha<2", "beta")))
    got = report(sandbox.run(str(script)))
    assert got["alpha"] == "1.0"  # kept, as an edit keeps what it does not change
    assert got["prefix"] == str(spare)  # the spare became the edited generation
    assert current_generation(env_dir) == spare
    assert not (spare / "uvlaunch-spare").exists()
    assert (spare / "uvlaunch-stamp").exists()
    assert (spare / "bin" / "python").exists()
    assert not before.exists()  # replaced: out of use, deleted as an edit's is
    beta = report(
        sandbox.capture(
            [str(spare / "bin" / "python"), "-c", "import beta, json; print(json.dumps({}))"]
        )
    )
    assert beta == {}
    # Its own compiler makes the next one, of this generation.
    settle(sandbox)
    after = spare_of(env_dir)
    assert after is not None and (after / "uvlaunch-spare").read_text().strip() == spare.name


def test_a_spares_entry_points_name_its_own_python(sandbox: Sandbox) -> None:
    # Cloned for the path it will have: an entry point of a package it keeps runs there.
    _script, env_dir, spare = edited_with_spare(sandbox)
    for entry in (spare / "bin").iterdir():
        if entry.is_file() and not entry.is_symlink():
            head = entry.read_bytes()[:200]
            assert str(current_generation(env_dir)).encode() not in head, entry


@pytest.mark.parametrize("damage", ["other-note", "no-note", "missing", "file", "not-generation"])
def test_a_spare_not_made_for_the_current_generation_is_never_taken(
    sandbox: Sandbox, damage: str
) -> None:
    script, env_dir, spare = edited_with_spare(sandbox)
    note = spare / "uvlaunch-spare"
    if damage == "other-note":
        note.write_text("g1\n")
    elif damage == "no-note":
        note.unlink()
    elif damage == "missing":
        os.rename(spare, env_dir.parent.parent / "tmp" / "moved-away")
    elif damage == "file":
        os.rename(spare, env_dir.parent.parent / "tmp" / "moved-away")
        spare.write_text("not a generation\n")
    else:
        (env_dir / "spare").unlink()
        (env_dir / "spare").symlink_to("../elsewhere")
    script.write_text(make_script(deps=("alpha<2", "beta")))
    got = report(sandbox.run(str(script)))
    assert got["alpha"] == "1.0"
    if damage == "missing":  # its number is free again: the edit's clone takes it
        assert (sandbox.home / "tmp" / "moved-away" / "uvlaunch-spare").exists()
    else:
        assert got["prefix"] != str(spare)
    assert not (env_dir / "spare").is_symlink() or spare_of(env_dir) != spare
    proc = sandbox.run("gc")
    assert proc.returncode == 0, proc.stderr
    if damage not in ("missing", "file"):  # there, the name is another generation's
        assert not spare.exists(), sorted(p.name for p in env_dir.iterdir())
    assert report(sandbox.run(str(script)))["alpha"] == "1.0"


def test_an_upgrade_or_a_rollback_drops_the_spare(sandbox: Sandbox) -> None:
    script, env_dir, spare = edited_with_spare(sandbox)
    proc = sandbox.run("reinstall", str(script))
    assert proc.returncode == 0, proc.stderr
    assert spare_of(env_dir) is None
    assert not spare.exists()  # unpointed, deleted by the flip's prune
    # A rollback too: the spare of the generation current before it is of no use.
    script.write_text(make_script(deps=("alpha",)))
    report(sandbox.run(str(script)))
    settle(sandbox)
    second = spare_of(env_dir)
    assert second is not None
    proc = sandbox.run("rollback", str(script))
    assert proc.returncode == 0, proc.stderr
    assert spare_of(env_dir) is None
    proc = sandbox.run("gc")
    assert proc.returncode == 0, proc.stderr
    assert not second.exists()


def test_list_does_not_count_a_spare_gc_keeps_it_remove_deletes_it(sandbox: Sandbox) -> None:
    script, env_dir, spare = edited_with_spare(sandbox)
    proc = sandbox.run("list", "--json")
    assert proc.returncode == 0, proc.stderr
    (entry,) = json.loads(proc.stdout)
    assert entry["generations"] == [current_generation(env_dir).name]
    proc = sandbox.run("gc")
    assert proc.returncode == 0, proc.stderr
    assert spare.is_dir() and spare_of(env_dir) == spare
    proc = sandbox.run("remove", str(script))
    assert proc.returncode == 0, proc.stderr
    assert not env_dir.exists()


def test_a_failed_edit_from_a_spare_leaves_the_current_generation_and_clones_next_time(
    sandbox: Sandbox,
) -> None:
    script, env_dir, spare = edited_with_spare(sandbox)
    current = current_generation(env_dir)
    script.write_text(make_script(deps=("alpha<2", "no-such-package-anywhere")))
    proc = sandbox.run(str(script))
    assert proc.returncode != 0
    assert current_generation(env_dir) == current
    assert not spare.exists()  # taken, failed, discarded
    script.write_text(make_script(deps=("alpha<2", "beta")))
    got = report(sandbox.run(str(script)))
    assert got["alpha"] == "1.0" and got["prefix"] != str(current)


def test_no_spare_where_an_edit_would_not_clone(sandbox: Sandbox) -> None:
    # uv's copy modes may write onto a cloned file in place: such an edit starts like an
    # upgrade (beside.clonable), and no spare is made for it either.
    sandbox.env["UV_LINK_MODE"] = "copy"
    script = sandbox.script(deps=("alpha",))
    report(sandbox.run(str(script)))
    script.write_text(make_script(deps=("alpha<2",)))
    assert report(sandbox.run(str(script)))["alpha"] == "1.0"
    settle(sandbox)
    (env_dir,) = sandbox.env_dirs()
    assert spare_of(env_dir) is None


def test_a_spare_pointer_naming_the_current_generation_does_not_hide_it_from_list(
    sandbox: Sandbox,
) -> None:
    _script, env_dir, spare = edited_with_spare(sandbox)
    current = current_generation(env_dir)
    (env_dir / "spare").unlink()
    (env_dir / "spare").symlink_to(current.name)  # put there by hand, or by a bug
    proc = sandbox.run("list", "--json")
    assert proc.returncode == 0, proc.stderr
    (entry,) = json.loads(proc.stdout)
    assert entry["generations"] == sorted([current.name, spare.name])


HOLDS_THE_LOCK = """\
import fcntl, json, os, sys, time
# While the compiler of this edit's generation works: its environment's lock, held as a
# process the launch forked held it on a loaded machine (spare.WAIT), until the compiler
# is done or a few seconds have passed (on a machine that slow, the test proves less).
env = sys.prefix
home = os.path.dirname(os.path.dirname(os.path.dirname(env)))
with open(os.path.join(home, "locks", os.path.basename(os.path.dirname(env)) + ".lock"), "a") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    end = time.monotonic() + 5
    while time.monotonic() < end and not os.path.exists(os.path.join(env, "uvlaunch-compiled")):
        time.sleep(0.02)
import alpha
print(json.dumps({"alpha": alpha.VERSION, "prefix": sys.prefix}))
"""


def test_the_spare_is_made_when_the_lock_is_busy_as_the_compiler_starts(
    sandbox: Sandbox,
) -> None:
    # Failed before: the compiler tried the lock once, found it held, made no spare.
    script = sandbox.script(deps=("alpha",))
    report(sandbox.run(str(script)))
    settle(sandbox)
    script.write_text(make_script(deps=("alpha<2",), body=HOLDS_THE_LOCK))
    assert report(sandbox.run(str(script)))["alpha"] == "1.0"
    settle(sandbox)
    (env_dir,) = sandbox.env_dirs()
    assert spare_of(env_dir) is not None, sorted(p.name for p in env_dir.iterdir())
