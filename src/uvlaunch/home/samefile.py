"""Which file is which: a moved file is the same file, a new file given its inode is not.

A rename keeps a file's device, inode and birth time; ext4 gives a deleted file's inode
to the next file created, at once, with a new birth time. The birth time is
``st_birthtime`` where ``os.stat`` has it (macOS, the BSDs) and ``statx``'s
``stx_btime`` on Linux (ext4, XFS, Btrfs, tmpfs; Python before 3.15 has no
``os.statx``, so it is called through ctypes). Where the filesystem keeps none (NFS,
FAT, ext4 with small inodes), it is None, and ``is_recorded_file`` goes by what else
is known (docs/how-it-works.md, "A moved file is the same file").

Never imported on a warm start, and not read on a first launch: ctypes costs 2.5 ms,
so a new record gets its birth time from the background compiler (``lookup.note_birth``),
or from the next launch that goes the slow way.
"""

from __future__ import annotations

import os
import sys

from uvlaunch.home import paths, pointer, stamp

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable

    from uvlaunch.home.records import Record

_STATX_BTIME = 0x800
_AT_FDCWD = -100
_STATX_SIZE = 256  # struct statx, padding included
_BTIME_OFFSET = 80  # stx_btime: struct statx_timestamp { s64 tv_sec; u32 tv_nsec; ... }
_MASK_OFFSET = 0
_INO_OFFSET = 32  # stx_ino: u64

_libc: object = None


def birth_ns(path: str, ino: int | None = None) -> int | None:
    """The birth time of the file ``path`` leads to, in ns; None where none is kept (or
    when that file's inode is not ``ino``, if given)."""
    if sys.platform.startswith("linux"):
        return _statx_birth(path, ino)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if ino is not None and st.st_ino != ino:
        return None
    ns = getattr(st, "st_birthtime_ns", None)  # Python 3.12+
    if isinstance(ns, int) and ns > 0:
        return ns
    seconds = getattr(st, "st_birthtime", None)
    return round(seconds * 1e9) if isinstance(seconds, float) and seconds > 0 else None


def _statx_birth(path: str, ino: int | None) -> int | None:
    global _libc
    try:
        import ctypes
        import struct

        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        statx = getattr(_libc, "statx", None)  # glibc 2.28+, musl 1.2.5+
        if statx is None:
            return None
        buf = ctypes.create_string_buffer(_STATX_SIZE)
        if statx(_AT_FDCWD, os.fsencode(path), 0, _STATX_BTIME, buf) != 0:
            return None
        (mask,) = struct.unpack_from("=I", buf.raw, _MASK_OFFSET)
        (found,) = struct.unpack_from("=Q", buf.raw, _INO_OFFSET)
        if not mask & _STATX_BTIME or (ino is not None and found != ino):
            return None  # this filesystem keeps no birth time, or another file is there
        sec, nsec = struct.unpack_from("=qI", buf.raw, _BTIME_OFFSET)
    except (OSError, ImportError, AttributeError, ValueError):
        return None
    born = int(sec) * 1_000_000_000 + int(nsec)
    return born if born > 0 else None  # 0: a filesystem that reports one it has not


def same_file(path: str, dev: int, ino: int, born: int | None = None) -> bool:
    """Whether ``path`` leads to the file ``dev``/``ino`` (born at ``born``, if known)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if (st.st_dev, st.st_ino) != (dev, ino):
        return False
    if born is None:
        return True
    now = birth_ns(path)
    return now is None or now == born


def is_recorded_file(
    root: str, rec: Record, uid: int, born: int | None, block: Callable[[], str | None]
) -> bool:
    """Whether a file that has the inode ``rec`` records, under a name ``rec`` does not
    have, is the recorded file (moved), not a new file the filesystem gave the inode.

    ``uid``, ``born``: the file's owner and birth time; ``block``: reads its metadata
    block. The owner must be the recorded one (a rename keeps it) and the birth time
    too; where either side has none, the block must be the one the environment was last
    synced for.
    """
    if rec.uid is not None and uid != rec.uid:
        return False
    if rec.born is not None and born is not None:
        return born == rec.born
    env = pointer.current(root, rec.name)
    fields = None if env is None else stamp.read(paths.stamp_path(env))
    return fields is not None and fields.block == block()
