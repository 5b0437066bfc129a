"""Generations of an environment: build one at its final path, flip the pointer, prune.

An upgrade or a reinstall never changes a generation a script may be running in: it
builds a new one, ``envs/<name>/g<N+1>/``, at the path it keeps for good (so nothing
is renamed and no relocatable trick is needed), stamps it complete, and only then
flips the pointer (pointer.py) in one atomic rename: the generation that was current
is kept for ``rollback``. Scripts that started before the flip keep theirs: each
holds its generation's use lock (shared) until it exits, and a generation is deleted
only once its lock can be taken exclusively, without waiting, and it is neither
current nor kept for rollback (``prune``, by the next flip or by gc). Nothing here
ever waits for a running script.
"""

from __future__ import annotations

import os

from uvlaunch.building import background, beside, complete, machines, spare, venv
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import locks, paths, pointer, records, sharers, stamp, trash, warm
from uvlaunch.home.env import Env
from uvlaunch.scripts.script import Script
from uvlaunch.uv import calls as uv


def new_dir(env: Env) -> str:
    """The directory for a new generation of ``env``, marked as this machine's build;
    call with the environment's lock held (``Env.new_generation`` checks, then reserves)."""
    return env.new_generation(machines.mark_building)


def build(
    env: Env,
    script: Script,
    uv_bin: str,
    *,
    upgrading: tuple[str, ...] | None,
) -> str:
    """Build a complete new generation for ``script`` beside the current one; its path.

    ``upgrading``: the packages to move to the newest versions the block allows (``()``:
    every one); None keeps the versions installed now (a reinstall). Raises UvError with
    uv's reason on failure, and then nothing of the new generation is left. The pointer
    is not touched.
    """
    upgrade, packages = upgrading is not None, upgrading or ()
    current = env.current()
    assert current is not None, "build a new generation of a complete environment"
    new = new_dir(env)
    invoked = script.ident.invoked
    try:
        beside.prepare(
            script, current, new, uv_bin, keep=not (upgrade and not packages), but=packages
        )
        if script.block is not None:
            extra = ["--upgrade"] if upgrade and not packages else []
            for package in packages:
                extra += ["--upgrade-package", package]
            with script.for_uv(env.root) as given:
                argv = uv.sync_argv(uv_bin, given, python=None, quiet=1, verbose=0)
                beside.run_uv([*argv, *extra], new, invoked, "resolve or install")
        complete.finish(env.root, new, script, uv_bin, uv.version(uv_bin), compile_now=True)
    except BaseException:
        discard(env, new)
        raise
    return new


def flip(env: Env, new: str, *, keep_current: bool = True, later: bool = False) -> None:
    """Make the complete generation ``new`` current, in one rename; call with the lock held.

    ``keep_current``: the generation current until now is kept for rollback (an
    upgrade, a reinstall); else the one kept stays (a launch's rebuild replaces a
    broken generation, which is no rollback). Then deletes what no script uses; with
    ``later``, out of use now and deleted by a detached process (background.py).
    """
    variant = env.variant
    current = env.target(pointer.CURRENT + variant)
    if keep_current and current is not None:
        # The pointer kept for rollback first: a kill between the two renames leaves the
        # old generation current (and kept for rollback), the new one unused, for gc.
        env.point(pointer.PREVIOUS + variant, current)
    env.point(pointer.CURRENT + variant, os.path.basename(new))
    machines.done_building(new)
    _drop_spare(env)
    if current is not None:  # a first build: no warm record can name this environment yet
        _forget_warm(env)
    trashed: list[str] | None = [] if later else None
    try:
        prune(env, later=trashed)
    except UvlaunchError:
        pass  # the flip is done; what could not be deleted now, gc deletes
    background.delete_later(env.root, trashed or [])


def roll_back(env: Env) -> None:
    """Make the generation kept for rollback current, and keep the current one for the
    next rollback (which re-applies the upgrade); call with the environment's lock held."""
    variant = env.variant
    current, previous = env.read()
    if previous is None or not has_previous(env) or current is None:
        raise UvlaunchError(
            f"{env.name}: no earlier generation to roll back to "
            "(one is kept by `uvlaunch upgrade` and `uvlaunch reinstall`)"
        )
    # Current first: a kill between the two renames leaves the rollback done (and
    # nothing kept for the next one: the generation it replaced goes to gc).
    env.point(pointer.CURRENT + variant, previous)
    _forget_warm(env)
    _drop_spare(env)
    try:
        env.point(pointer.PREVIOUS + variant, current)
    except UvlaunchError as e:
        raise UvlaunchError(
            f"{env.name}: rolled back to {previous}, but {current} is not kept for another "
            f"rollback: {e}"
        ) from None


def _drop_spare(env: Env) -> None:
    # A spare is a clone of the generation that was current (spare.py): of no use now,
    # unpointed it is an unused generation, which the prune that follows deletes.
    try:
        spare.drop(env)
    except UvlaunchError:
        pass  # a spare of another generation is never taken (its note says whose)


def _forget_warm(env: Env) -> None:
    # The warm record named the generation that was current; the next start goes the
    # checking way (the generation now current may have been synced for another block:
    # a rollback after an edit), which writes a new record if all is right.
    rec = records.read_record(env.root, env.name)
    if rec is not None:
        warm.discard(env.root, rec.dev, rec.ino, env.name)


def has_previous(env: Env) -> bool:
    """Whether ``rollback`` would find a complete earlier generation of ``env``'s variant."""
    previous = env.read()[1]
    if previous is None:
        return False
    return stamp.read(paths.stamp_path(env.generation(previous))) is not None


class Pruned:
    """What ``prune`` did: generations deleted (with the bytes that freed), and kept in use."""

    __slots__ = ("deleted", "in_use")

    def __init__(self) -> None:
        self.deleted: list[tuple[str, int]] = []
        self.in_use: list[str] = []


def prune(
    env: Env, *, measure: bool = False, dry_run: bool = False, later: list[str] | None = None
) -> Pruned:
    """Delete the generations of ``name`` that are neither current nor kept for rollback.

    Call with the environment's lock held (a generation being built is neither either).
    A generation that a running script uses is kept, and listed in ``in_use``; gc tries
    again later. ``measure``: note the bytes each deletion frees (walks the generation).
    ``dry_run``: delete nothing, say what would go. ``later``: only into the trash, its
    trash paths added to the list, for the caller to delete.
    """
    done = Pruned()
    if env.is_planted():
        return done  # planted: nothing is deleted through it (remove_all unlinks it)
    if not dry_run:
        env.check()
    keep = env.pointed() | pointer.spared(env.root, env.name)  # every variant's (machines.py)
    for generation in env.generations():
        path = env.generation(generation)
        if generation in keep or machines.building_elsewhere(path):
            continue
        freed = venv.usage(path)[1] if measure else 0
        kept = in_use(path) if dry_run else not delete_unused(env, path, later=later)
        if kept:
            done.in_use.append(generation)
        else:
            done.deleted.append((generation, freed))
    return done


def delete_unused(env: Env, generation: str, *, later: list[str] | None = None) -> bool:
    """Delete the generation directory ``generation`` unless a script uses it; whether gone.

    Its use lock is taken exclusively without waiting: a script holding it (shared)
    keeps it. The rename into the trash happens under that lock, so a launch that
    waited on it finds the path gone afterwards and goes the slow way. ``later``: only
    into the trash, the trash path added to the list.
    """
    root, name = env.root, env.name
    env.check()
    if os.path.islink(generation) or not os.path.isdir(generation):
        trash.discard(root, generation, prefix=name)  # planted: unlinked
        return True
    if machines.used_elsewhere(generation):
        # Another machine ran a script in it lately: its use lock may not reach this
        # one (NFS nolock, Lustre localflock), its use mark does (machines.py).
        return False
    lock = locks.Lock(paths.generation_lock_path(generation))
    try:
        if not lock.acquire(blocking=False):
            return False
    except FileNotFoundError:
        return True  # deleted meanwhile
    try:
        if sharers.referrers(generation, tidy=True):
            return False  # other environments' thin generations use its packages
        trashed = trash.to_trash(root, generation, prefix=name)
    finally:
        lock.release()
    machines.drop_marks(generation)
    if trashed is not None and later is not None:
        later.append(trashed)
    elif trashed is not None:
        try:
            trash.delete_tree(trashed, within=root)
        except OSError:
            pass  # whatever stays in the trash, gc deletes
    return True


def in_use(generation: str) -> bool:
    """Whether a script holds the generation directory ``generation`` (for a dry run),
    or another machine used it lately."""
    if machines.used_elsewhere(generation) or sharers.referrers(generation):
        return True
    lock = locks.Lock(paths.generation_lock_path(generation))
    try:
        if lock.acquire(blocking=False):
            lock.release()
            return False
    except OSError:
        return False  # gone, or not a directory of ours
    return True


def discard(env: Env, generation: str) -> None:
    """Delete a generation no script can have started (half-built, or failed).

    Called on the way out of a failure: a generation it cannot move stays, neither
    current nor kept, for gc (``prune``), and the failure that led here is the one told.
    """
    machines.drop_marks(generation)
    try:
        trash.discard(env.root, generation, prefix=env.name)
    except UvlaunchError:
        return
    try:
        os.rmdir(env.dir)  # a first build that failed leaves no directory
    except OSError:
        pass  # not empty: the environment has other generations or its pointer


def remove_all(env: Env) -> list[str]:
    """Remove the environment ``name``: its pointers first (out of use in one step), then
    every generation that no script uses, then its directory; call with its lock held.

    Returns the generations kept because running scripts use them: gc deletes them
    once they are free (sweep.py), as what is left of an environment with no pointer.
    """
    top = env.dir
    if os.path.islink(top) or not os.path.isdir(top) or is_legacy(env):
        trash.discard(env.root, top)  # a planted link is unlinked, not followed
        return []
    env.check()
    for variant in env.variants() or [""]:  # every machine's
        env.point(pointer.CURRENT + variant, None)
        env.point(pointer.PREVIOUS + variant, None)
        env.point(pointer.SPARE + variant, None)
    env.point(pointer.PREVIOUS, None)
    kept = [
        generation
        for generation in env.generations()
        if not delete_unused(env, env.generation(generation))
    ]
    if not kept:
        trash.discard(env.root, top)
    return kept


def is_legacy(env: Env) -> bool:
    """Whether ``envs/<name>`` is itself a virtual environment, as uvlaunch made them
    before generations; a launch rebuilds it once in the new layout."""
    return os.path.isfile(os.path.join(env.dir, "pyvenv.cfg"))
