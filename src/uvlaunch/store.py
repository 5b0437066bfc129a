"""Where environments live: records, the identity index, locks and the trash.

Layout of the home (see docs/how-it-works.md):

    envs/<name>/           the virtual environment; envs/<name>/uvlaunch-stamp marks it complete
    records/<name>.json    who the environment belongs to: script path, device, inode
    index/ino-<dev>-<ino>  name of the environment of that file (lookup by inode)
    index/path-<hash>      name of the environment of that path (lookup after atomic saves)
    locks/<name>.lock      held while an environment is created, synced or removed
    locks/index.lock       held while the index and records change
    previous/<name>/       the generation before the last upgrade or reinstall (rollback)
    staging/<name>.<rand>/ an upgrade or reinstall being built, beside the environment
    pyc/<xx>/<sha256>      byte-compiled files shared by environments (hard links)
    warm/<dev>-<ino>       what a warm start checks, for the native launcher (warm.py)
    trash/                 environments taken out of use, waiting to be deleted
    tmp/                   temporary files, renamed over records atomically

Every record and index write goes to tmp/ first and is renamed into place.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time

from uvlaunch import locks, paths, stamp, warm
from uvlaunch.bytecode import sha256_hex as sha256_hex
from uvlaunch.errors import HomeError
from uvlaunch.identity import ScriptIdentity, is_safe_name, safe_stem

# This module is on the way of every launch that creates or syncs an environment, so
# what only some paths need (json, shutil) is imported where it is used, and nothing
# heavier than ``os`` is imported here: dataclasses, contextlib, uuid, hashlib and
# filelock together cost more than 40 ms (docs/performance.md).

SUBDIRS = (
    "envs",
    "records",
    "index",
    "locks",
    "trash",
    "tmp",
    "staging",
    "previous",
    "pyc",
    "warm",
)


class Record:
    """Who an environment belongs to (immutable; a plain class, see above)."""

    __slots__ = ("created", "dev", "ino", "name", "script")

    def __init__(self, name: str, script: str, dev: int, ino: int, created: float) -> None:
        self.name = name
        self.script = script
        self.dev = dev
        self.ino = ino
        self.created = created

    def _key(self) -> tuple[str, str, int, int, float]:
        return (self.name, self.script, self.dev, self.ino, self.created)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Record(name={self.name!r}, script={self.script!r}, dev={self.dev}, "
            f"ino={self.ino}, created={self.created})"
        )


def random_suffix(n: int) -> str:
    """``n`` random hex digits (uuid4 would cost 6 ms of imports)."""
    return os.urandom((n + 1) // 2).hex()[:n]


def open_home(create: bool = True) -> str:
    """The home directory, created 0700 and checked like ssh checks ``~/.ssh``."""
    root = paths.home()
    if create:
        try:
            os.makedirs(root, mode=0o700, exist_ok=True)
        except OSError as e:
            raise HomeError(f"{root}: cannot create uvlaunch's home: {e.strerror}") from None
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return root
    except OSError as e:
        raise HomeError(f"{root}: cannot use uvlaunch's home: {e.strerror}") from None
    check_home_permissions(root, st)
    for sub in SUBDIRS:
        path = os.path.join(root, sub)
        # Removal, renames and writes trust that everything under these is the home's own.
        if os.path.islink(path):
            raise HomeError(f"{path}: is a symlink; uvlaunch's home must hold real directories")
        if os.path.lexists(path) and not os.path.isdir(path):
            raise HomeError(f"{path}: is not a directory; uvlaunch's home must hold directories")
    if create:
        for sub in SUBDIRS:
            path = os.path.join(root, sub)
            try:
                os.makedirs(path, mode=0o700, exist_ok=True)
            except OSError as e:
                raise HomeError(f"{root}: cannot write to uvlaunch's home: {e.strerror}") from None
        if not os.access(root, os.W_OK | os.X_OK):
            raise HomeError(f"{root}: uvlaunch's home is not writable")
    return root


def check_home_permissions(root: str, st: os.stat_result) -> None:
    """Refuse a home that another user owns or that others can write."""
    if sys.platform == "win32":
        return
    if not stat.S_ISDIR(st.st_mode):
        raise HomeError(f"{root}: uvlaunch's home is not a directory")
    if st.st_uid != os.geteuid():
        raise HomeError(
            f"{root}: uvlaunch's home is owned by uid {st.st_uid}, not by you; "
            "refusing to run environments another user controls"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise HomeError(
            f"{root}: uvlaunch's home is writable by others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run `chmod 700 {root}`"
        )


# -- atomic files -----------------------------------------------------------------


def write_atomic(root: str, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it.

    On failure (a full disk) the old file is as it was; HomeError says why in one line.
    """
    tmp = os.path.join(paths.tmp_dir(root), f"{os.path.basename(path)}.{random_suffix(32)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise HomeError(f"{path}: cannot write: {e.strerror or e}") from None
        raise


def remove_file(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- records ----------------------------------------------------------------------


def read_record(root: str, name: str) -> Record | None:
    """The record of ``name``, or None when it is missing or damaged."""
    try:
        with open(paths.record_path(root, name), "rb") as f:
            raw = f.read()
    except OSError:
        return None
    import json  # only now: a first launch looks for records that do not exist

    try:
        data = json.loads(raw.decode("utf-8"))
        script, dev, ino = data["script"], data["dev"], data["ino"]
        if not (isinstance(script, str) and _is_int(dev) and _is_int(ino)):
            return None
        # A lone surrogate outside the escapes (valid JSON, not a path) raises ValueError.
        script = paths.from_stored(script)
        if not os.path.isabs(script) or "\0" in script or os.path.normpath(script) != script:
            return None  # "/x/", "/x/../y": no path uvlaunch writes
        return Record(name, script, dev, ino, float(data.get("created", 0.0)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def write_record(root: str, record: Record) -> None:
    write_atomic(root, paths.record_path(root, record.name), encode_record(record))


def encode_record(record: Record) -> bytes:
    """The record as JSON, the same text ``json.dumps`` gives."""
    # Written on every first launch; the json package imports re (5 ms), while the C
    # string encoder it uses itself is free to import.
    try:
        from _json import encode_basestring_ascii as quote
    except ImportError:  # pragma: no cover - CPython always has _json
        from json import dumps as quote
    script = quote(paths.to_stored(record.script))
    return (
        f'{{"version": 1, "name": {quote(record.name)}, "script": {script}, '
        f'"dev": {int(record.dev)}, "ino": {int(record.ino)}, '
        f'"created": {float(record.created)!r}}}'
    ).encode("ascii")


def record_names(root: str) -> list[str]:
    """Names of all environments that have a record file (readable or not)."""
    try:
        entries = os.listdir(paths.records_dir(root))
    except FileNotFoundError:
        return []
    return sorted(e[:-5] for e in entries if e.endswith(".json") and is_safe_name(e[:-5]))


def env_names(root: str) -> list[str]:
    """Names of all environment directories."""
    try:
        entries = os.listdir(paths.envs_dir(root))
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if is_safe_name(e))


# -- index ------------------------------------------------------------------------


def path_key_path(root: str, script: str) -> str:
    digest = sha256_hex(os.fsencode(script))[:40]
    return os.path.join(paths.index_dir(root), f"path-{digest}")


def read_index(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            name = f.read(256).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if is_safe_name(name) else None


def index_record(root: str, record: Record) -> None:
    """Point the inode and path index entries at ``record``."""
    data = record.name.encode()
    write_atomic(root, paths.inode_key_path(root, record.dev, record.ino), data)
    write_atomic(root, path_key_path(root, record.script), data)


def unindex_record(root: str, record: Record) -> None:
    """Drop index entries that still point at ``record``."""
    for key in (
        paths.inode_key_path(root, record.dev, record.ino),
        path_key_path(root, record.script),
    ):
        if read_index(key) == record.name:
            remove_file(key)
    warm.discard(root, record.dev, record.ino, record.name)


def lookup(root: str, script: ScriptIdentity) -> tuple[Record | None, str]:
    """Find the environment of ``script``: (record, how), reading a constant number of files.

    ``how`` is "same" (found as recorded), "hardlink" (found through another link to the
    recorded file), "moved" (same inode, new path) or "saved" (same path, new inode).
    Call with the index lock held when the result may lead to a write.
    """
    name = read_index(paths.inode_key_path(root, script.dev, script.ino))
    if name is not None:
        rec = read_record(root, name)
        if rec is not None and (rec.dev, rec.ino) == (script.dev, script.ino):
            if rec.script == script.path:
                return rec, "same"
            if _same_file(rec.script, rec.dev, rec.ino):
                return rec, "hardlink"
            return rec, "moved"
    name = read_index(path_key_path(root, script.path))
    if name is not None:
        rec = read_record(root, name)
        if rec is not None and rec.script == script.path:
            if _same_file(rec.script, rec.dev, rec.ino):
                return rec, "same"
            return rec, "saved"
    return None, "new"


def _same_file(path: str, dev: int, ino: int) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def new_name(root: str, script: ScriptIdentity) -> str:
    """The name a new environment for ``script`` gets: its stem plus a hash of its identity.

    Deterministic, so that ``where`` can name an environment before it exists; a name
    already taken (a reused inode at the same path) gets a longer, random suffix.
    """
    name = preferred_name(script)
    while os.path.lexists(paths.record_path(root, name)) or os.path.lexists(
        paths.env_dir(root, name)
    ):
        name = f"{name[:-4]}{random_suffix(8)}"
    return name


def preferred_name(script: ScriptIdentity) -> str:
    """The script's stem plus ten hex digits of a hash of its device, inode and path."""
    digest = sha256_hex(
        f"{script.dev}:{script.ino}:{script.path}".encode("utf-8", "surrogateescape")
    )
    return f"{safe_stem(script.path)}-{digest[:10]}"


def recover(root: str, script: ScriptIdentity) -> Record | None:
    """After a failed lookup: the environment of ``script`` whose record was lost or damaged.

    Candidates are the names its index entries still give and the name it would get; one
    is taken when its record names this file (the index was damaged), when its record is
    unreadable and its stamp names this file, or, with the stamp unreadable too, when it
    is the very name this file would get.
    """
    candidates = [
        read_index(paths.inode_key_path(root, script.dev, script.ino)),
        read_index(path_key_path(root, script.path)),
        preferred_name(script),
    ]
    for i, name in enumerate(candidates):
        if name is None:
            continue
        rec = read_record(root, name)
        if rec is not None:
            # Readable, but the index that leads to it was damaged or lost.
            if (rec.dev, rec.ino) == (script.dev, script.ino) or rec.script == script.path:
                return rec
            continue  # another file's
        fields = stamp.read(paths.stamp_path(paths.env_dir(root, name)))
        if fields is not None:
            same_file = (fields.get("dev"), fields.get("ino")) == (str(script.dev), str(script.ino))
            if not (same_file or fields.get("script") == paths.to_stored(script.path)):
                continue
        elif i < 2 or not (
            os.path.lexists(paths.record_path(root, name))
            or os.path.lexists(paths.env_dir(root, name))
        ):
            continue
        return Record(name, script.path, script.dev, script.ino, now())
    return None


# -- locks ------------------------------------------------------------------------


def index_lock(root: str) -> locks.Lock:
    """Held while the index and records change."""
    return locks.Lock(os.path.join(paths.locks_dir(root), "index.lock"))


def env_lock(root: str, name: str) -> locks.Lock:
    """Held while the environment ``name`` is created, synced or removed."""
    return locks.Lock(paths.env_lock_path(root, name))


def try_env_lock(root: str, name: str) -> locks.Attempt:
    """``with try_env_lock(...) as taken:`` holds the environment's lock if it is free now."""
    return locks.Attempt(paths.env_lock_path(root, name))


def use_lock(root: str, name: str) -> locks.Lock:
    """The shared lock a launch holds from its check until its script exits."""
    return locks.Lock(paths.use_lock_path(root, name), shared=True)


BUILDING = "a launch is creating or syncing it"
RUNNING = "a running script is using it"


class Exclusive:
    """``with Exclusive(root, name) as busy:``: both of an environment's locks, if free now.

    ``busy`` is None when this process holds them (nothing can launch, build or remove
    the environment meanwhile), else why not. Removal needs both: the environment lock
    keeps builds out, the use lock keeps out launches and the scripts they started.
    """

    __slots__ = ("_build", "_use")

    def __init__(self, root: str, name: str) -> None:
        self._build = locks.Lock(paths.env_lock_path(root, name))
        self._use = locks.Lock(paths.use_lock_path(root, name))

    def __enter__(self) -> str | None:
        if not self._build.acquire(blocking=False):
            return BUILDING
        if not self._use.acquire(blocking=False):
            self._build.release()
            return RUNNING
        return None

    def __exit__(self, *exc: object) -> None:
        self._use.release()
        self._build.release()

    def delete_files(self) -> None:
        """Delete both lock files while holding them (waiters then lock the new ones)."""
        for lock in (self._use, self._build):
            remove_file(lock.path)


# -- removal ----------------------------------------------------------------------


def take_out_of_use(root: str, name: str) -> str | None:
    """Rename the environment into the trash in one atomic step; returns its trash path."""
    env = paths.env_dir(root, name)
    if not os.path.lexists(env):
        return None
    dest = os.path.join(paths.trash_dir(root), f"{name}.{random_suffix(8)}")
    os.replace(env, dest)
    return dest


def delete_tree(path: str, *, within: str) -> None:
    """Delete ``path`` (file, symlink or directory) if it lies inside ``within``."""
    real_within = os.path.realpath(within)
    parent = os.path.realpath(os.path.dirname(path))
    if os.path.commonpath([parent, real_within]) != real_within:
        raise ValueError(f"refusing to delete {path}: outside {within}")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil

        # rmtree never follows symlinks: it unlinks them (and refuses a symlinked top).
        shutil.rmtree(path, onerror=_rmtree_error)
    else:
        os.unlink(path)


def _rmtree_error(func: object, path: str, exc_info: object) -> None:
    # Read-only directories inside an environment (some packages ship them) block
    # unlinking their entries; make the parent writable and try once more.
    try:
        parent = os.path.dirname(path)
        os.chmod(parent, 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            import shutil

            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


def now() -> float:
    return time.time()
