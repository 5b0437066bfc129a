"""The slow path from a home that cannot be written (``ProtectHome=read-only``, a
read-only container): it starts what needs no write, and says why when it must write.

A launch normally registers the script, holds the environment's lock and may build;
from a read-only home it only reads. It finds the script's record (``lookup.lookup``),
decides with the same plan as any launch (plan.py), and starts the script when the plan
is to keep the current generation: as the native launcher and the Python fast path
would, but whatever made them hand over (no warm record, a touched file, ``uvlaunch
run`` or ``--no-fast-path``). It holds the generation's use lock (flock needs no write
access), so gc elsewhere cannot delete it meanwhile, and records its use where it can:
in the stamp's time when the stamp can be touched, else in the state directory
(usage.py), which ``gc --unused-for`` reads too.

Anything that must write is refused in one line that says why: a first launch, a name
the record does not have yet (a move or a new link, which gc must know of, or it would
take the script for gone), a block or lock file edited since the last sync, a
generation to rebuild, an interpreter patched in place (its stamp must say so).
"""

from __future__ import annotations

import os

from uvlaunch.building import envbuild, machines, plan
from uvlaunch.building import facts as facts_of
from uvlaunch.errors import HomeError, UvlaunchError
from uvlaunch.home import locks, lookup, paths, pointer, stamp, store, trust, usage
from uvlaunch.home.env import Env
from uvlaunch.scripts.script import Script

TRIES = 3  # a generation flipped and deleted between reading its pointer and locking it


def usable(root: str) -> bool:
    """Whether the home ``root``, which cannot be written, can at least be read: it
    exists, and is trusted as any home is (``store.open_home`` checks, creating nothing)."""
    if not os.path.isdir(root):
        return False
    store.open_home(create=False)  # HomeError for a home of another user's, and the like
    return True


class Held:
    """What ``prepare`` found to start: the environment (seen through this machine's
    variant), its current generation, held by its use lock, and whether to start the
    script through ``uv run`` (the uv binary changed since the last sync)."""

    __slots__ = ("env", "generation", "name", "through_uv", "use")

    def __init__(self, env: Env, generation: str, use: locks.Lock, through_uv: bool) -> None:
        self.env = env
        self.name = env.name
        self.generation = generation
        self.use = use
        self.through_uv = through_uv


def prepare(root: str, script: Script, uv_bin: str, problem: str) -> Held:
    """Find what to start without writing to the home ``root``, and hold it; HomeError,
    naming why the launch must write, when it cannot go on without writing.

    ``problem``: why the home cannot be written, for that line.
    """
    if not usable(root):
        raise HomeError(problem)
    invoked = script.ident.invoked
    for _ in range(TRIES):
        env, current, old = _decide(root, script, problem)
        use = store.use_lock(current)
        try:
            use.acquire()
        except OSError:
            continue  # deleted meanwhile (gc, where the home is writable)
        if env.current() == current:
            break
        use.release()
    else:
        raise HomeError(f"{invoked}: its environment kept changing while it was being launched")
    try:
        bad = trust.env_problem(env.dir, current)
        if bad is not None:
            raise HomeError(bad)  # what another user can change is never started
    except BaseException:
        use.release()
        raise
    machines.mark_used(current)  # a help for other machines, where it can be written
    record_use(env, current)
    return Held(env, current, use, envbuild.uv_changed(uv_bin, old))


def _decide(root: str, script: Script, problem: str) -> tuple[Env, str, stamp.Stamp]:
    """The environment, its current generation and stamp, when the plan is to keep it;
    else HomeError saying why the launch must write."""
    invoked = script.ident.invoked
    rec, how = lookup.lookup(root, script.ident)
    if rec is None:
        raise HomeError(must_write(invoked, "it has no environment yet", problem))
    if how not in ("same", "saved", "hardlink") or (
        how == "hardlink" and script.ident.path not in rec.names
    ):
        # A move or a new link: gc, which goes by the recorded names, would take the
        # script for gone. An editor's save (a new inode at the recorded path) is fine.
        raise HomeError(
            must_write(invoked, f"uvlaunch knows it by another name ({rec.script})", problem)
        )
    base = Env(root, rec.name)
    base.check()
    try:
        facts, old = facts_of.gather(base, script)
    except HomeError:
        # An interpreter patched in place: its stamp must say so (facts.py).
        raise HomeError(
            must_write(invoked, "its Python interpreter changed since it was built", problem)
        ) from None
    todo = plan.decide(facts)
    env = base.with_variant(facts.chosen or "")
    current = env.current()
    if todo.action != plan.KEEP or old is None or current is None:
        raise HomeError(why_it_writes(invoked, todo, facts, old, script, problem))
    return env, current, old


def record_use(env: Env, generation: str) -> None:
    """Now is the last use of ``env``'s variant, whose current generation is
    ``generation``: in its stamp's time if the stamp can be touched, else in the state
    directory (usage.py)."""
    try:
        os.utime(paths.stamp_path(generation))
    except OSError:
        usage.record(env.root, env.name, pointer.CURRENT + env.variant)


def why_it_writes(
    invoked: str,
    todo: plan.Plan,
    facts: plan.Facts,
    old: stamp.Stamp | None,
    script: Script,
    problem: str,
) -> str:
    """The one line that says why a launch whose plan is ``todo`` must write."""
    if todo.action == plan.EDIT and old is not None:
        what = "its block"
        if old.block == script.block:
            what = "its lock file" if old.lockhash != script.lock_hash else "its folder"
        return (
            f"{invoked}: {what} changed since its environment was synced, and syncing it "
            f"writes to uvlaunch's home, which cannot be written here ({problem}); sync it "
            f"where the home can be written (`uvlaunch sync {invoked}`), or undo the edit"
        )
    if todo.action == plan.REBUILD:
        return must_write(invoked, f"its environment must be rebuilt: {todo.reason}", problem)
    if facts.chosen is None or not facts.present:
        return must_write(invoked, "it has no environment for this machine's Python yet", problem)
    return must_write(invoked, "its environment's last sync did not finish", problem)


def must_write(invoked: str, what: str, problem: str) -> str:
    return (
        f"{invoked}: {what}, and launching it writes to uvlaunch's home, which cannot be "
        f"written here ({problem}); launch it once where the home can be written"
    )


def explain(root: str, script: Script, problem: str) -> str:
    """Why a command (``sync``, ``install``) on ``script`` must write to the unwritable
    home ``root``: the environment's own reason, as far as the home tells (a block
    edited since the last sync, say), else that the command itself writes."""
    try:
        if usable(root):
            _decide(root, script, problem)
    except HomeError as e:
        return str(e)
    except (OSError, UvlaunchError):
        pass
    return f"{script.ident.invoked}: this command writes to uvlaunch's home ({problem})"
