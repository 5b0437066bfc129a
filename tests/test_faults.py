"""Faults at every step (issue 27): each failing or killed system call of each command
leaves a working home and one honest line.

For each scene below (a command, from a state prepared once and restored before each
point), each class of state-changing system calls (faults.CLASSES) and each fault (EIO,
ENOSPC, SIGKILL), strace makes the Kth call fail in every process of the command
(uvlaunch, its uv, the background compiler), K from 1 to the most calls of that class
one process makes; and in uvlaunch's own process alone, for each K at which a uv
process would otherwise have failed first (faults.every_point). After each point:

- stderr holds no Python traceback, and no OSError that only the last resort at the
  edge caught (errors.UNEXPECTED); a failed command ends with one line of its own
  (``uvlaunch: error: ...``, status 2; or a failed outcome of upgrade, status 1);
- an environment the script had is not lost: ``where`` names it, ``list`` shows it;
- the next plain launch runs the script in a complete generation (it has its stamp)
  of that environment, holding every package its block asks for.

By default the fixed SPREAD runs; ``UVLAUNCH_FAULTS=all pytest -m faults`` runs every
point. docs/reliability.md says how many each covers and what they found.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faults
import pytest
from conftest import UVLAUNCH_PY, build_wheel, installed, isolated_env, make_script
from faults import TRACEBACK, Point, World

from uvlaunch.errors import UNEXPECTED

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

SKIP = faults.skip_reason()

# A block edit: the script's block as the "edit" scene finds it.
EDITED = make_script(deps=("alpha", "beta"))
# The next edit's block, in the "edit-spare" scene (a clone of EDITED's generation is
# made ahead for it: building/spare.py); and one more, after it.
EDITED_AGAIN = make_script(deps=("alpha", "gamma"))
EDITED_LAST = make_script(deps=("alpha",))
GENERATION = re.compile(r"g[1-9][0-9]*")
# On one CPU the compiler clones with one thread (clone.py), so that its Kth linkat is
# the same call in every run.
ONE_CPU = ("taskset", "-c", str(min(os.sched_getaffinity(0)))) if shutil.which("taskset") else ()


def launch(world: World) -> None:
    proc = world.run(["./s.py"], extra={"UVLAUNCH_COMPILE_BYTECODE": "0"})
    assert proc.returncode == 0, proc.stderr


def newer_alpha(world: World) -> None:
    build_wheel(world.root / "wheels", "alpha", "2.0")


def cli(world: World, *args: str) -> None:
    proc = world.run([UVLAUNCH_PY, *args], extra={"UVLAUNCH_COMPILE_BYTECODE": "0"})
    assert proc.returncode == 0, proc.stderr


def prepare_cached(world: World) -> None:
    """Another script launched first: uv's cache holds what s.py needs, so that uv makes
    few calls, and the Kth of uvlaunch's own is not hidden behind uv's."""
    other = world.scripts / "other.py"
    # Another block: a copy of s.py's would share its generation (the "copy" scene).
    other.write_text(make_script(deps=("alpha", "beta")))
    other.chmod(0o755)
    proc = world.run(["./other.py"], extra={"UVLAUNCH_COMPILE_BYTECODE": "0"})
    assert proc.returncode == 0, proc.stderr


def prepare_copy(world: World) -> None:
    """A copy of s.py in another folder launched first: s.py's first launch makes a thin
    generation on the copy's (building/thin.py), without uv."""
    (world.scripts / "run1").mkdir()
    first = world.scripts / "run1" / "s.py"
    first.write_text(make_script())
    first.chmod(0o755)
    proc = world.run([str(first)], extra={"UVLAUNCH_COMPILE_BYTECODE": "0"})
    assert proc.returncode == 0, proc.stderr


def prepare_rewarm(world: World) -> None:
    launch(world)
    for record in (world.home / "warm").iterdir():
        record.unlink()


def prepare_edit(world: World) -> None:
    launch(world)
    with open(world.scripts / "s.py", "r+") as f:  # in place: the same file, a new block
        f.write(EDITED)


def rewrite(world: World, text: str) -> None:
    """Give s.py the block of ``text``, in place: the same file (inode), a new block."""
    with open(world.scripts / "s.py", "r+") as f:
        f.write(text)
        f.truncate()


def prepare_edit_spare(world: World) -> None:
    """An edited script whose background compiler made the next edit's generation ahead
    (the spare, building/spare.py), edited again: the command's edit takes the spare,
    and its own compiler makes the next one."""
    launch(world)
    rewrite(world, EDITED)
    proc = world.run(["./s.py"])  # the compiler runs: it makes the spare
    assert proc.returncode == 0, proc.stderr
    world.settle()
    top = world.home / "envs" / str(_where(world))
    spare = top / "spare"
    assert spare.is_symlink(), f"the edit's background compiler made no spare in {top}"
    note = (top / os.readlink(spare) / "uvlaunch-spare").read_text().strip()
    assert note == os.readlink(top / "current"), note
    assert os.readlink(spare) == "g3", "SPREAD's points name g3, the spare"
    rewrite(world, EDITED_AGAIN)


def prepare_upgrade(world: World) -> None:
    launch(world)
    newer_alpha(world)


def prepare_rollback(world: World) -> None:
    prepare_upgrade(world)
    cli(world, "upgrade", "./s.py")


def prepare_gc(world: World) -> None:
    """An upgraded script, one whose script is gone, leftovers of killed commands in
    tmp/ and trash/."""
    prepare_rollback(world)
    gone = world.scripts / "gone.py"
    gone.write_text(make_script())
    gone.chmod(0o755)
    proc = world.run(["./gone.py"], extra={"UVLAUNCH_COMPILE_BYTECODE": "0"})
    assert proc.returncode == 0, proc.stderr
    gone.unlink()
    stale = time.time() - 7200
    leftover = world.home / "tmp" / "s.json.0123456789abcdef"
    leftover.write_text("{}")
    os.utime(leftover, (stale, stale))
    (world.home / "trash" / "g9.0123456789abcdef" / "lib").mkdir(parents=True)


@dataclass(frozen=True)
class Scene:
    argv: tuple[str, ...]
    prepare: Callable[[World], None] | None
    had_env: bool = True  # whether the script has an environment before the command
    deps: tuple[str, ...] = ("alpha",)  # what its block asks for when the command runs
    # What a fault left of a spare, the next launch must not run in, and gc must delete
    # (_spare_leftover_problems).
    spare_leftovers: bool = False


SCENES = {
    # A first launch, through the slow path (the Python launcher).
    "first": Scene((UVLAUNCH_PY, "./s.py"), None, had_env=False),
    "first-cached": Scene((UVLAUNCH_PY, "./s.py"), prepare_cached, had_env=False),
    # A copy's first launch: a thin generation on the first copy's.
    "copy": Scene((UVLAUNCH_PY, "./s.py"), prepare_copy, had_env=False),
    # A warm start that must write its warm record: the native launcher's and Python's.
    "rewarm-native": Scene(("./s.py",), prepare_rewarm),
    "rewarm-python": Scene((UVLAUNCH_PY, "./s.py"), prepare_rewarm),
    # A launch after the script's block changed.
    "edit": Scene((UVLAUNCH_PY, "./s.py"), prepare_edit, deps=("alpha", "beta")),
    # An edit that takes the spare; its compiler makes the next (spare.take, spare.make).
    "edit-spare": Scene(
        (*ONE_CPU, UVLAUNCH_PY, "./s.py"),
        prepare_edit_spare,
        deps=("alpha", "gamma"),
        spare_leftovers=True,
    ),
    "upgrade": Scene((UVLAUNCH_PY, "upgrade", "./s.py"), prepare_upgrade),
    "reinstall": Scene((UVLAUNCH_PY, "reinstall", "./s.py"), launch),
    "rollback": Scene((UVLAUNCH_PY, "rollback", "./s.py"), prepare_rollback),
    "gc": Scene((UVLAUNCH_PY, "gc"), prepare_gc),
    "install": Scene((UVLAUNCH_PY, "install", "./s.py"), launch),
}


# The default spread: a fixed sample of the points, each "FAULT CLASS K" (in every
# process of the command) or "FAULT CLASS K alone" (in uvlaunch's own). Those marked *
# ended in a Python traceback before issue 27; the others reach each kind of step, the
# end of each command included.
SPREAD = {
    "first": ["EIO rename 4 *", "EIO mkdir 13 *", "kill mkdir 20"],
    "first-cached": [
        "EIO rename 5 *",
        "ENOSPC mkdir 12 *",
        "kill rename 5",
        "EIO ftruncate 1",
        "kill fsync 1",
    ],
    "copy": [
        "EIO mkdir 1",
        "kill mkdir 2",
        "EIO link 1",
        "ENOSPC link 3",
        "kill link 5",
        "EIO link 9",
        "EIO rename 1",
        "kill rename 2",
        "EIO rename 3",
    ],
    "rewarm-native": ["EIO rename 1", "kill rename 1"],
    "edit": [
        "EIO rename 2 alone *",
        "ENOSPC mkdir 13 alone *",
        "EIO rename 3 alone *",
        "kill link 3",
        "kill mkdir 13 alone",
    ],
    # Points on a path: only the calls on it count (strace -P), whichever process makes
    # them. The edit's spare.take unpoints the spare g3 (an EIO: one line, g3 still the
    # spare), then deletes its note (killed there: g3 noted, unpointed). The compiler
    # then clones the next spare, g4, on one CPU: killed at its 9th linkat, in
    # site-packages (uvlaunch makes none, uv 3), it leaves a half clone. Between the two,
    # take asks whether uv's cache links into the home (uv/linking.py): uvlaunch's 3rd
    # unlink is its probe's, in the home's tmp/ (that one failing reached the last resort).
    "edit-spare": [
        "EIO unlink 1 at envs/NAME/spare",
        "kill unlink 1 at envs/NAME/g3/uvlaunch-spare",
        "kill link 9",
        "EIO unlink 3 alone",
    ],
    "upgrade": [
        "EIO rename 4 alone",
        "kill rename 5 alone",
        "ENOSPC mkdir 13 alone",
        "EIO fsync 1 alone",
    ],
    "reinstall": ["kill rename 3 alone", "EIO link 2 alone"],
    "rollback": [
        "EIO rename 1 *",
        "EIO rename 2 *",
        "ENOSPC link 1 *",
        "kill rename 2",
        "kill ftruncate 2",
    ],
    "gc": ["EIO rename 1 *", "EIO unlink 5 *", "EIO unlink 8 *", "kill unlink 14", "kill unlink 4"],
    "install": ["EIO rename 2", "kill rename 3", "ENOSPC mkdir 12", "ENOSPC fsync 2"],
}


@dataclass
class Stage:
    """A scene ready for points: its world with the state saved, and who the script is."""

    scene: str
    world: World
    name: str | None  # the script's environment before the command


def prepare(root: Path, scene: str) -> Stage:
    """The scene's world in ``root``, prepared and saved (World.restore goes back to it)."""
    wheels = root / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "alpha", "1.0")
    build_wheel(wheels, "beta", "1.0")
    build_wheel(wheels, "gamma", "1.0")
    env = isolated_env(root, wheels)
    env.update(UV_NO_INDEX="1", UVLAUNCH_BIN_DIR=str(root / "bin"))
    world = World(root, env)
    world.scripts.mkdir()
    script = world.scripts / "s.py"
    script.write_text(make_script())
    script.chmod(0o755)
    spec = SCENES[scene]
    if spec.prepare is not None:
        spec.prepare(world)
    name = _where(world) if spec.had_env else None
    assert (name is not None) == spec.had_env
    world.save()
    return Stage(scene, world, name)


def _where(world: World) -> str | None:
    proc = world.run([UVLAUNCH_PY, "where", "--json", "./s.py"])
    if proc.returncode != 0:
        return None
    return str(json.loads(proc.stdout)["name"])


def problems_at(stage: Stage, point: Point) -> list[str]:
    """What is wrong after ``point``'s fault: nothing, when every invariant holds."""
    world = stage.world
    proc = world.inject(point, list(SCENES[stage.scene].argv))
    left = None
    if SCENES[stage.scene].spare_leftovers and stage.name is not None:
        left = _spare_leftovers(world, stage.name)
    found = []
    if TRACEBACK in proc.stderr:
        found.append(f"a traceback: {faults.traceback_summary(proc.stderr)}")
    elif UNEXPECTED in proc.stderr:
        found.append(f"an OSError only the last resort caught: {proc.stderr.strip()}")
    elif (why := faults.last_line_problem(proc, str(world.scripts / "s.py"))) is not None:
        found.append(why + f"\n{proc.stderr.strip()}")
    if stage.name is not None:
        where = _where(world)
        if where != stage.name:
            found.append(f"the environment {stage.name} is lost: `where` names {where}")
        listed = world.run([UVLAUNCH_PY, "list", "--json"])
        if TRACEBACK in listed.stderr or listed.returncode != 0:
            found.append(f"`list` failed: {listed.stderr.strip()}")
        elif stage.name not in {e["name"] for e in json.loads(listed.stdout)}:
            found.append(f"`list` does not show {stage.name}")
    found += _spare_problems(world)
    found += _next_launch(stage)
    found += _shared_problems(world)
    if left is not None:
        found += _spare_leftover_problems(stage, left)
    return [f"{point}: {problem}" for problem in found]


def _spare_problems(world: World) -> list[str]:
    """A spare pointer (building/spare.py) names a generation made ahead for the current
    one: its note ``uvlaunch-spare`` names the generation its variant's pointer does."""
    found = []
    for spare in (world.home / "envs").glob("*/spare*"):
        variant = spare.name[len("spare") :]
        current = spare.parent / f"current{variant}"
        made = spare.parent / os.readlink(spare)
        note = made / "uvlaunch-spare"
        if not current.is_symlink():
            found.append(f"{spare} names {made.name}, and {current} is gone")
        elif not note.is_file() or note.read_text().strip() != os.readlink(current):
            found.append(
                f"{spare} names {made.name}, whose note is not {os.readlink(current)}: "
                + (repr(note.read_text()) if note.is_file() else "no note")
            )
    return found


def _spare_leftovers(world: World, name: str) -> set[str]:
    """The generations of ``name`` that neither a pointer nor a good spare pointer names:
    what a fault left of a spare (a half clone, one noted but unpointed), or of a build."""
    top = world.home / "envs" / name
    spare = top / "spare"
    taken = os.readlink(spare) if spare.is_symlink() and not _spare_problems(world) else None
    pointed = {os.readlink(top / p) for p in ("current", "previous") if (top / p).is_symlink()}
    present = {g.name for g in top.iterdir() if GENERATION.fullmatch(g.name)}
    return present - pointed - {taken}


def _spare_leftover_problems(stage: Stage, left: set[str]) -> list[str]:
    """What the fault left (``left``, seen right after it) the next launch never runs in
    (when it edits, as after a failed edit, it builds beside them), and gc deletes."""
    world, name = stage.world, stage.name
    assert name is not None
    top = world.home / "envs" / name
    found = []
    current = os.readlink(top / "current")
    if current in left:
        found.append(f"the next launch ran in {current}, left over from {sorted(left)}")
    still = sorted(g for g in left if (top / g).exists() and g != current)
    if still:  # a flip deletes them too: those that the next launch kept, gc must
        world.settle()
        collected = world.run([UVLAUNCH_PY, "gc"])
        if collected.returncode != 0:
            found.append(f"gc failed after it: {collected.stderr.strip()}")
        kept = [g for g in still if (top / g).exists()]
        if kept:
            found.append(f"gc kept {kept}, left over by the fault")
    return found
    world.settle()  # the edit's deleter, emptying the trash of what it replaced
    collected = world.run([UVLAUNCH_PY, "gc"])
    if collected.returncode != 0:
        found.append(f"gc failed after it: {collected.stderr.strip()}")
    kept = sorted(g for g in left if (top / g).exists())
    if kept:
        found.append(f"gc kept {kept}, left over by the fault")
    return found


def _shared_problems(world: World) -> list[str]:
    """Copies (building/thin.py): no generation a thin one refers to is gone, and every
    other script (a copy launched first) still runs with its packages."""
    found = []
    for marker in (world.home / "envs").glob("*/g*/uvlaunch-shared"):
        lines = marker.read_text().split("\n")
        source = world.home / "envs" / lines[1] / lines[2]
        if not (source / "uvlaunch-stamp").is_file():
            found.append(f"{marker.parent} refers to {source}, which is gone or incomplete")
    for other in world.scripts.glob("*/s.py"):
        proc = world.run([str(other)], extra={"UVLAUNCH_COMPILE_BYTECODE": "0"})
        if proc.returncode != 0 or TRACEBACK in proc.stderr:
            found.append(f"{other} no longer runs (exit {proc.returncode}):\n{proc.stderr}")
        elif "alpha" not in installed(json.loads(proc.stdout.strip().splitlines()[-1])["prefix"]):
            found.append(f"{other} runs without alpha")
    return found


def _next_launch(stage: Stage) -> list[str]:
    """What is wrong with the next plain launch: it must run in a complete generation of
    the script's environment (the one it had, if any) holding what its block asks for."""
    proc = stage.world.run(["./s.py"], extra={"UVLAUNCH_COMPILE_BYTECODE": "0"})
    if proc.returncode != 0 or TRACEBACK in proc.stderr:
        return [f"the next launch failed (exit {proc.returncode}):\n{proc.stderr.strip()}"]
    prefix = Path(json.loads(proc.stdout.strip().splitlines()[-1])["prefix"])
    found = []
    if prefix.parent.parent != stage.world.home / "envs" or not (
        stage.name is None or prefix.parent.name == stage.name
    ):
        found.append(f"the next launch ran in {prefix}, not in a generation of {stage.name}")
    elif not (prefix / "uvlaunch-stamp").is_file():
        found.append(f"the next launch ran in {prefix}, which has no stamp")
    missing = set(SCENES[stage.scene].deps) - installed(prefix)
    if missing:
        found.append(f"the next launch ran in {prefix}, without {sorted(missing)}")
    return found


def chosen(stage: Stage) -> list[Point]:
    """The points to run: the spread, or every one (counted from a run under strace)."""
    if not faults.EVERY:
        return [
            faults.parse_point(stage.scene, p.rstrip(" *"), stage.name) for p in SPREAD[stage.scene]
        ]
    return faults.every_point(stage.scene, stage.world.count(list(SCENES[stage.scene].argv)))


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
@pytest.mark.parametrize("scene", list(SCENES if faults.EVERY else SPREAD))
def test_each_fault_leaves_a_working_home_and_one_line(
    tmp_path_factory: pytest.TempPathFactory, scene: str
) -> None:
    stage = prepare(tmp_path_factory.mktemp(f"faults-{scene}"), scene)
    points = chosen(stage)
    found = [problem for point in points for problem in problems_at(stage, point)]
    assert not found, f"{len(found)} problems in {len(points)} points:\n" + "\n\n".join(found)


def _in_flight(trace: Path, where: str) -> bool:
    """Whether the trace shows a linkat into ``where`` entered and not returned yet
    (strace prints a call when it enters, before a delay, its result after)."""
    lines = trace.read_text().splitlines() if trace.exists() else []
    return any("linkat(" in line and where in line and " = " not in line for line in lines)


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_gc_while_a_spare_is_cloned_never_costs_the_generation_after(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """An edit takes the spare g3; its compiler clones the next one, g4, without the
    environment's lock (spare.make). Held there (strace delays its 5th linkat, the first
    of anyone's: uvlaunch's edit took the spare, and uv makes 3, until the test lets it
    go), gc deletes g4, and the next edit builds its generation at the free name, g4, and
    makes it current. The compiler's clone then fails: what it deletes on the way out
    must be its own, never the generation that is current now."""
    stage = prepare(tmp_path_factory.mktemp("faults-spare-race"), "edit-spare")
    world, name = stage.world, stage.name
    assert name is not None
    world.restore()
    top = world.home / "envs" / name
    trace = world.root / "held.strace"
    held = [
        *("strace", "-f", "-y", "-qq", "-o", str(trace), "-e", "trace=linkat"),
        *("-e", "inject=linkat:delay_enter=600000000:when=5"),
        *(*ONE_CPU, UVLAUNCH_PY, "./s.py"),
    ]
    import signal
    import subprocess

    with subprocess.Popen(
        held,
        cwd=world.scripts,
        env=world.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as strace:
        try:
            end = time.monotonic() + 120
            while not _in_flight(trace, f"{top}/g4/"):
                assert strace.poll() is None, "the edit's compiler made no spare g4"
                assert time.monotonic() < end, "the compiler never cloned g4"
                time.sleep(0.05)
            collected = world.run([UVLAUNCH_PY, "gc"])
            assert collected.returncode == 0, collected.stderr
            rewrite(world, EDITED_LAST)
            edited = world.run([UVLAUNCH_PY, "./s.py"], extra={"UVLAUNCH_COMPILE_BYTECODE": "0"})
            assert edited.returncode == 0, edited.stderr
            now = json.loads(edited.stdout.strip().splitlines()[-1])["prefix"]
        finally:
            strace.send_signal(signal.SIGKILL)  # its tracees go on, untraced
            strace.wait()
    world.settle()
    current = top / os.readlink(top / "current")
    assert str(current) == now
    assert (current / "uvlaunch-stamp").is_file(), f"{current}, current, was deleted"
    proc = world.run(["./s.py"], extra={"UVLAUNCH_COMPILE_BYTECODE": "0"})
    assert proc.returncode == 0 and "rebuilding" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["prefix"] == now
    assert installed(now) == {"alpha"}
