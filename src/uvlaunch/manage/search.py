"""``gc --search DIR``: find orphans' scripts that were moved, by inode, and keep them.

An orphan's script may have been moved without being launched since: a file under the
given directories with the recorded device and inode that also looks like the script
(the same name, or the same ``# /// script`` block) is taken for it, and the record (and
stamp) follow it. An inode alone may have been reused by an unrelated file: one with
another owner or birth time than recorded never counts (samefile.py).
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterable

from uvlaunch.errors import UvlaunchError
from uvlaunch.home import index, paths, pointer, records, samefile, stamp, store
from uvlaunch.home.env import Env
from uvlaunch.manage import inventory
from uvlaunch.manage.inventory import EnvInfo
from uvlaunch.scripts import metadata


def find_moved(root: str, orphans: list[EnvInfo], dirs: Iterable[str]) -> dict[str, str]:
    """Orphans whose file is found under ``dirs``: name -> path.

    A file counts when it has the recorded device and inode and also looks like the
    script: the same name, or the same ``# /// script`` block. An inode alone may have
    been reused by an unrelated file since the script was deleted.
    """
    wanted = {(o.dev, o.ino): o for o in orphans if o.dev is not None and o.ino is not None}
    found: dict[str, str] = {}
    for top in dirs:
        for dirpath, _dirnames, filenames in os.walk(top):
            for filename in filenames:
                path = os.path.join(dirpath, filename)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                info = wanted.get((st.st_dev, st.st_ino))
                if (
                    info is not None
                    and stat_mod.S_ISREG(st.st_mode)
                    and info.name not in found
                    and _same_owner_and_birth(root, info, path, st)
                    and _looks_like_script(root, info, path)
                ):
                    found[info.name] = os.path.realpath(path)
    return found


def _same_owner_and_birth(root: str, info: EnvInfo, path: str, st: os.stat_result) -> bool:
    rec = records.read_record(root, info.name)
    if rec is None:
        return True  # nothing recorded to compare: the name or the block decides
    if rec.uid is not None and st.st_uid != rec.uid:
        return False
    born = None if rec.born is None else samefile.birth_ns(path)
    return born is None or born == rec.born


def _looks_like_script(root: str, info: EnvInfo, path: str) -> bool:
    if info.script is not None and os.path.basename(info.script) == os.path.basename(path):
        return True
    env = pointer.current(root, info.name)
    fields = None if env is None else stamp.read(paths.stamp_path(env))
    if fields is None or fields.block is None:
        return False
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
        return metadata.find_block(data.decode("utf-8"), path) == fields.block
    except (OSError, ValueError, UvlaunchError):
        return False


LAUNCHED = "launched meanwhile: its record already says where its script is"


def relocate(root: str, info: EnvInfo, new_path: str) -> str | None:
    """Make the record and stamp of the orphan ``info`` name ``new_path``; None when done.

    Only under the environment's own lock, taken without waiting: whoever holds it (a
    launch syncing, an upgrade flipping) may be writing the stamp, and a stamp read
    before their write and written after it would undo it. Else returns why not.
    """
    env = Env(root, info.name)
    with env.exclusive() as busy:
        if busy is not None:
            return busy
        # Again under the lock: a launch at the new path may have moved the record.
        again = inventory.inspect(env)
        if again.state != inventory.ORPHANED:
            return LAUNCHED
        with store.index_lock(root):
            old = records.read_record(root, info.name)
            if old is not None:
                index.unindex_record(root, old)
            assert info.dev is not None and info.ino is not None
            rec = records.Record(
                info.name,
                new_path,
                info.dev,
                info.ino,
                old.created if old else store.now(),
                born=old.born if old else None,
                uid=old.uid if old else None,
                views=old.views if old else None,
            )
            records.write_record(root, rec)
            index.index_record(root, rec)
            stamp_file = paths.stamp_path(again.environment)
            fields = stamp.read(stamp_file)
            if fields is not None:  # record and stamp must agree (inventory.py)
                moved = fields.replace(script=paths.to_stored(new_path))
                store.write_atomic(root, stamp_file, moved.encode())
    return None
