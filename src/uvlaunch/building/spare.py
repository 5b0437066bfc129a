"""The next edit's generation, made ahead: a clone of the current one, kept ready.

A block edit builds its generation beside the current one, from a clone by hard links
(beside.py, clone.py): the clone makes every directory anew (about 600 for pandas, typer
and rich, 60 to 150 ms on the disks measured), and uv queries the interpreter of the new
path once (50 to 80 ms; uv caches what it learns by that path), two costs the in-place
sync never had. A script edited once is being worked on, so after an edit its
background compiler, once done, makes the next edit's starting point (``make``):

1. under the environment's lock (if it is free now), it reserves the next generation
   ``gK`` as a build would;
2. without the lock, it clones the current generation ``gN`` into ``gK`` exactly as an
   edit would, and has uv query ``gK``'s interpreter (``uv python find``);
3. under the lock again, while ``gN`` is still current, it writes ``uvlaunch-spare``
   (``gN``'s name) into ``gK`` and points ``spare<variant>`` at ``gK``.

The next edit, under the lock, takes ``gK`` (``take``) when that pointer names it, it
is a directory of ours, its ``uvlaunch-spare`` names the current generation and the
edit would clone (the same uv, the same interpreter): the pointer goes first, then the
note, and what the edit does from there is what it does to a clone made at that moment.
Anything else leaves the edit to clone as before, and the spare, unpointed, is an
unused generation that ``prune`` deletes. Every flip and rollback drops the variant's
spare pointer (generations.py: a spare is good for the generation it was made from
only), ``remove`` drops them all, and no launch ever starts a spare: the launchers
start what ``current`` names, and a spare has no stamp.
"""

from __future__ import annotations

import os
import stat

from uvlaunch.building import beside, machines, venv
from uvlaunch.building import clone as cloning
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import pointer, store, trash, trust
from uvlaunch.home.env import Env
from uvlaunch.scripts.script import Script

NOTE = "uvlaunch-spare"  # in a spare: the name of the generation it is a clone of
EDITED = "uvlaunch-edited"  # in a generation an edit made: make it a spare when compiled


def wanted(env: str) -> bool:
    """Whether the generation ``env`` was made by a block edit (``mark_edited``)."""
    return os.path.isfile(os.path.join(env, EDITED))


def mark_edited(new: str) -> None:
    """Note in the generation ``new`` (not current yet) that an edit made it."""
    try:
        with open(os.path.join(new, EDITED), "xb"):
            pass
    except OSError:
        pass  # no spare then: the next edit clones


def variant_of(env: Env, generation: str) -> str | None:
    """The variant whose current generation is ``generation``, or None."""
    for variant in env.variants() or [""]:
        if env.target(pointer.CURRENT + variant) == generation:
            return variant
    return None


# The compiler waits for the environment's lock (it holds nothing a launch needs): a
# launch lets it go just before its compiler starts, but a process it forked meanwhile
# (the detached deleter of the generation an edit replaced) holds the lock's descriptor
# until it has closed what it inherited, which on a loaded machine came after this
# compiler's first try, and the spare was not made (a loaded CI run).
WAIT = 30.0


def make(root: str, current: str, uv_bin: str) -> str | None:
    """Make the spare of the current generation ``current`` (see the module); its path,
    or None when none was made. Never raises for what it meets on disk."""
    try:
        return _make(root, current, uv_bin)
    except (OSError, UvlaunchError):
        return None


def _make(root: str, current: str, uv_bin: str) -> str | None:
    name, generation = os.path.basename(os.path.dirname(current)), os.path.basename(current)
    base = Env(root, name)
    python = venv.base_python(current)
    if not beside.clonable(current, python) or not beside.made_by(current, uv_bin):
        return None
    lock = base.lock()
    if not lock.acquire(timeout=WAIT):
        return None  # someone builds for long: what they make replaces ``current`` anyway
    try:
        variant = variant_of(base, generation)
        if variant is None:
            return None
        env = base.with_variant(variant)
        if env.target(pointer.SPARE + variant) is not None:
            return None
        new = env.new_generation(machines.mark_building)
        # Held (shared, as a running script holds its generation) until the spare is
        # pointed at or dropped: unpointed and marked as this machine's build, it is an
        # unused generation to prune (gc's, another edit's flip), which deletes one only
        # under this lock taken exclusively. Else gc could delete it while it is cloned
        # here, the next edit build its own at the free name and make it current, and
        # the clone, failing then, drop that one (tests/test_faults.py).
        use = store.use_lock(new)
        try:
            held = use.acquire(blocking=False)
        except OSError:
            held = False
        if not held:
            _drop(env, new)
            return None
    finally:
        lock.release()
    try:
        cloning.clone_into(current, new, skeleton=True)
        _query(uv_bin, new)
        with open(os.path.join(new, NOTE), "x") as f:
            f.write(generation + "\n")
        if lock.acquire(timeout=WAIT):
            try:
                if env.target(pointer.CURRENT + variant) == generation:
                    env.point(pointer.SPARE + variant, os.path.basename(new))
                    return new
            finally:
                lock.release()
        _drop(env, new)  # while it is held: what is at its path is still this spare
        return None
    except BaseException:
        _drop(env, new)
        raise
    finally:
        use.release()


def _query(uv_bin: str, new: str) -> None:
    """Have uv learn the new path's interpreter now: it keeps what it learns by path."""
    import subprocess

    from uvlaunch.uv import calls as uv

    subprocess.run(
        [uv_bin, "python", "find", os.path.join(new, "bin", "python")],
        env=uv.managed_env(new),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )


def _drop(env: Env, new: str) -> None:
    """Delete the spare ``new`` being made (generations.discard, which imports this)."""
    machines.drop_marks(new)
    try:
        trash.discard(env.root, new, prefix=env.name)
    except UvlaunchError:
        pass  # unpointed, it is an unused generation: prune deletes it


def take(env: Env, current: str, script: Script, uv_bin: str) -> str | None:
    """The spare of ``env``'s current generation ``current``, now the edit's new
    generation (not a spare any more), or None; call with the environment's lock held."""
    variant = env.variant
    generation = env.target(pointer.SPARE + variant)
    if generation is None:
        return None
    # Out of the spare state first: from here on, a kill leaves an unused generation.
    env.point(pointer.SPARE + variant, None)
    path = env.generation(generation)
    if generation in env.pointed():
        return None  # an edit syncs into a generation no script may run in, never these
    if trust.dir_problem(path) is not None or not os.path.isdir(path):
        return None
    if _note(path) != os.path.basename(current):
        return None
    if not beside.clonable_for(script, current, uv_bin):
        return None
    try:
        os.unlink(os.path.join(path, NOTE))
    except OSError:
        return None
    machines.mark_building(path)
    return path


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO put there must not block the edit


def _note(path: str) -> str | None:
    """The generation the note of the spare ``path`` names: read from a regular file of
    the user's own that no one else may write, never through a link; else None."""
    try:
        fd = os.open(os.path.join(path, NOTE), os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or trust.owner_problem(os.path.join(path, NOTE), st):
            return None
        return os.read(fd, 64).decode("ascii").strip()
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def drop(env: Env) -> None:
    """Drop the spare pointer of ``env``'s variant (its current generation changes):
    the spare becomes an unused generation, which ``prune`` deletes."""
    env.point(pointer.SPARE + env.variant, None)
