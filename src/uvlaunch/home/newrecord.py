"""A new script's record and index entries, made in one step that one machine wins.

The index lock is a ``flock``, which may reach no other machine (NFS ``nolock``,
Lustre ``localflock``): a job array starting one new script on many nodes at once
would register it on each, each under a name of its own (the name hashes the device
number, which differs between NFS clients). So the step that makes a registration is
the ``link(2)`` of the script's path index entry (``index/path-<hash>``), complete
before it is seen: one machine wins it, then renames its record into place and writes
its inode entry. A machine that loses adopts the winner's name: it waits (briefly)
for the winner's record, and takes it. An entry that names no record for long, or
another file's record, is stale: moved aside (one machine wins that ``rename``), and
the link is tried again.
"""

from __future__ import annotations

import os
import time

from uvlaunch.home import paths
from uvlaunch.home.index import path_key_path, read_index
from uvlaunch.home.store import random_suffix, remove_file, write_atomic

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable

    from uvlaunch.home.records import Record

RECORD_WAIT = 5.0  # seconds to wait for the winner's record to appear


def create(
    root: str, rec: Record, encoded: bytes, read_record: Callable[[str, str], Record | None]
) -> Record:
    """Register ``rec`` (a new record, not yet written; ``encoded``, its file) unless
    another machine registered the same script meanwhile: the record that stands, this
    one or the winner's (read with ``read_record``, records.py's, which imports this)."""
    key = path_key_path(root, rec.script)
    entry = record = ""
    try:
        entry = _tmp_file(root, "entry", rec.name.encode())
        record = _tmp_file(root, "record", encoded)
    except OSError as e:
        for made in (entry, record):
            if made:
                remove_file(made)
        from uvlaunch.errors import HomeError

        raise HomeError(
            f"{paths.tmp_dir(root)}: cannot register {rec.script}: {e.strerror}; "
            "nothing was changed"
        ) from None
    try:
        deadline = time.monotonic() + RECORD_WAIT
        while True:
            if _link(entry, key, rec.name.encode()):
                try:
                    os.replace(record, paths.record_path(root, rec.name))
                except OSError as e:
                    # Won, but no record: the entry goes again, else the next launch
                    # would wait for a record that never comes.
                    remove_file(key)
                    from uvlaunch.errors import HomeError

                    raise HomeError(
                        f"{paths.records_dir(root)}: cannot register {rec.script}: "
                        f"{e.strerror}; nothing was changed"
                    ) from None
                inode = paths.inode_key_path(root, rec.dev, rec.ino)
                write_atomic(root, inode, rec.name.encode(), durable=False)
                return rec
            winner = read_index(key)
            other = None if winner is None else read_record(root, winner)
            if other is not None and other.ino == rec.ino and other.script == rec.script:
                return other  # the same file, registered by another machine
            if other is None and winner is not None and time.monotonic() < deadline:
                time.sleep(0.01)  # its record is being renamed into place
                continue
            _drop_stale(root, key, winner)
    finally:
        remove_file(entry)
        remove_file(record)


def _link(tmp: str, path: str, data: bytes) -> bool:
    """Make ``path`` (holding ``data``, as ``tmp`` does) unless it exists: whether made."""
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:
        pass  # no hard links here: O_EXCL, which every shared filesystem honours now
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return True


def _tmp_file(root: str, what: str, data: bytes) -> str:
    path = os.path.join(paths.tmp_dir(root), f"new-{what}.{random_suffix(16)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return path


def _drop_stale(root: str, key: str, name: str | None) -> None:
    """Move the index entry ``key`` aside if it still names ``name``; one that another
    machine wrote meanwhile is put back."""
    aside = os.path.join(paths.tmp_dir(root), f"stale-entry.{random_suffix(16)}")
    try:
        os.rename(key, aside)
    except OSError:
        return  # gone: another machine moved it
    if read_index(aside) != name:
        try:
            os.link(aside, key)
        except OSError:
            pass
    remove_file(aside)
