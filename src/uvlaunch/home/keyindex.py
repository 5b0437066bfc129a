"""The resolution index: which generation was built for a resolution key, in one read.

    index/res-<key>   "<name> <gN>": a complete generation of its own (not thin) that
                      was built for the resolution ``key`` (building/shared.py)

Written when such a generation is stamped complete (building/complete.py), over
whatever the entry held: the newest build of a key wins. Read by a first launch that
could share (shared.match) instead of reading every environment of the home. An entry
only says where to look: the reader checks the generation it names as if it had found
it by a scan (that key, complete, current, trusted, usable here), so an entry that is
stale (the generation was upgraded away, removed, collected), damaged, planted or not
the user's own leads nowhere, and the launch builds as usual; that build writes the
entry again. gc (and ``remove --all``) drops the entries whose generation is gone
(``prune``, from manage/sweep.py); until then a stale entry is a few bytes that leads
nowhere, and a build of its key replaces it.
"""

from __future__ import annotations

import os
import stat as stat_mod

from uvlaunch.home import paths, pointer, trust
from uvlaunch.home.names import is_safe_name

PREFIX = "res-"
MAX_ENTRY = 512


def entry_path(root: str, key: str) -> str:
    return os.path.join(paths.index_dir(root), PREFIX + key)


def is_key(key: str) -> bool:
    return len(key) == 64 and all(c in "0123456789abcdef" for c in key)


def write(root: str, key: str, generation: str) -> None:
    """Note that ``generation`` (``envs/<name>/gN``) was built for ``key``."""
    from uvlaunch.home.store import write_atomic

    if not is_key(key):
        return
    name = os.path.basename(os.path.dirname(generation))
    gen = os.path.basename(generation)
    if not is_safe_name(name) or not pointer.is_generation(gen):
        return
    path = entry_path(root, key)
    if os.path.isdir(path) and not os.path.islink(path):
        # A directory where an entry belongs: out of the way, for gc to delete.
        from uvlaunch.home import trash

        trash.to_trash(root, path)
    write_atomic(root, path, f"{name} {gen}\n".encode(), durable=False)


def read(root: str, key: str) -> str | None:
    """The generation the entry for ``key`` names, if the entry is sound and the user's;
    None otherwise. What it names is not checked here (shared.match does)."""
    if not is_key(key):
        return None
    # Not followed, never waited on: a FIFO planted there would block an open.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(entry_path(root, key), flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY:
            return None
        if trust.owner_problem(entry_path(root, key), st) is not None:
            return None  # another user's: not followed
        text = os.read(fd, MAX_ENTRY).decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)
    name, _, gen = text.strip().partition(" ")
    if not is_safe_name(name) or not pointer.is_generation(gen):
        return None
    return paths.generation_dir(root, name, gen)


def entries(root: str) -> list[str]:
    """The keys the index holds entries for."""
    try:
        found = os.listdir(paths.index_dir(root))
    except OSError:
        return []
    return [e[len(PREFIX) :] for e in found if e.startswith(PREFIX) and is_key(e[len(PREFIX) :])]


def stale(root: str) -> list[str]:
    """Keys whose entry names no generation that exists (gc may drop them)."""
    found = []
    for key in entries(root):
        generation = read(root, key)
        if generation is None or not os.path.isdir(generation):
            found.append(key)
    return found


def prune(root: str) -> int:
    """Drop the entries that name no generation that exists (gc's sweep); how many.

    A build may write a key's entry again meanwhile, and lose it here: that copy's
    next sibling builds instead of sharing, nothing worse."""
    gone = stale(root)
    for key in gone:
        drop(root, key)
    return len(gone)


def drop(root: str, key: str) -> None:
    """Remove the entry for ``key`` (gone already: nothing to do)."""
    from uvlaunch.home.store import remove_file

    if is_key(key):
        remove_file(entry_path(root, key))
