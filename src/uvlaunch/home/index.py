"""The index: which environment a file has, by its inode or by its path.

    index/ino-<dev>-<ino>  name of the environment of that file (lookup by inode)
    index/path-<hash>      name of the environment of that path (lookup after atomic saves)

Read by the warm fast path too, so at module level it imports nothing beyond ``os``
and the home's names and paths; what only writes need is imported where it is used.
Entries change under ``store.index_lock`` (records.py). An entry that is missing,
empty, damaged, not a plain file or names an environment without a record reads as
none, and the slow path writes it again (lookup.register); nothing in one can make a
launch fail or wait.
"""

from __future__ import annotations

import os
import stat as stat_mod

from uvlaunch.home import paths
from uvlaunch.home.names import is_safe_name

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from uvlaunch.home.records import Record


def path_key_path(root: str, script: str) -> str:
    """The index entry that maps a script's path to an environment name."""
    from uvlaunch.home.store import sha256_hex

    digest = sha256_hex(os.fsencode(script))[:40]
    return os.path.join(paths.index_dir(root), f"path-{digest}")


def read_index(path: str) -> str | None:
    """The environment name an index entry holds, or None (missing, damaged, unsafe)."""
    # Not followed, never waited on: a FIFO planted there would block an open.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
            return None
        name = os.read(fd, 256).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)
    return name if is_safe_name(name) else None


def indexed(root: str, record: Record) -> bool:
    """Whether both index entries of ``record`` lead to it."""
    return (
        read_index(paths.inode_key_path(root, record.dev, record.ino)) == record.name
        and read_index(path_key_path(root, record.script)) == record.name
    )


def index_record(root: str, record: Record) -> None:
    """Point the inode and path index entries at ``record`` (over whatever is there)."""
    from uvlaunch.home.store import write_atomic

    data = record.name.encode()
    for key in (
        paths.inode_key_path(root, record.dev, record.ino),
        path_key_path(root, record.script),
    ):
        if os.path.isdir(key) and not os.path.islink(key):
            # A directory where an entry belongs: out of the way, for gc to delete.
            from uvlaunch.home import trash

            trash.to_trash(root, key)
        write_atomic(root, key, data, durable=False)


def write_path_entry(root: str, script: str, name: str) -> None:
    """Point the path index entry of ``script`` (a view's name of it) at ``name``."""
    from uvlaunch.home.store import write_atomic

    write_atomic(root, path_key_path(root, script), name.encode(), durable=False)


def unindex_record(root: str, record: Record) -> None:
    """Drop index entries that still point at ``record``."""
    from uvlaunch.home import warm
    from uvlaunch.home.store import remove_file

    for key in (
        paths.inode_key_path(root, record.dev, record.ino),
        path_key_path(root, record.script),
    ):
        if read_index(key) == record.name:
            remove_file(key)
    warm.discard(root, record.dev, record.ino, record.name)
