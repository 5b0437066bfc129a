"""Where environments live: the home, atomic writes, locks and removal.

Layout of the home (see docs/how-it-works.md):

    envs/<name>/           the virtual environment; envs/<name>/uvlaunch-stamp marks it complete
    records/<name>.json    who the environment belongs to (records.py)
    index/...              which environment a file or path has (records.py)
    locks/<name>.lock      held while an environment is created, synced or removed
    locks/index.lock       held while the index and records change
    previous/<name>/       the generation before the last upgrade or reinstall (rollback)
    staging/<name>.<rand>/ an upgrade or reinstall being built, beside the environment
    pyc/<xx>/<sha256>      byte-compiled files shared by environments (hard links)
    piped/piped-<key>.py   the block of a script read from a pipe (its "script")
    warm/<dev>-<ino>       what a warm start checks, for the native launcher (warm.py)
    commands/<key>         an installed command: its path, script and environment (commands.py)
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

from uvlaunch import locks, paths, trust
from uvlaunch.contract import HOME_DIRS
from uvlaunch.errors import HomeError
from uvlaunch.names import is_safe_name

# This module is on the way of every launch that creates or syncs an environment, so
# what only some paths need (json, shutil) is imported where it is used, and nothing
# heavier than ``os`` is imported here: dataclasses, contextlib, uuid, hashlib and
# filelock together cost more than 40 ms (docs/performance.md).

SUBDIRS = HOME_DIRS


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex."""
    # hashlib loads OpenSSL first (2.5 ms); CPython's builtin module gives the same digest.
    # (bytecode.py keeps a copy: it runs as a script of its own under other Pythons.)
    for module in ("_sha2", "_sha256"):  # 3.12+, then 3.8-3.11
        try:
            return str(__import__(module).sha256(data).hexdigest())
        except ImportError:
            continue
    import hashlib

    return hashlib.sha256(data).hexdigest()


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
    # Removal, renames, writes and launches trust that everything under these is the
    # home's own: each is a real directory that no other user can change (trust.py).
    problem = trust.home_problem(root)
    if problem is not None:
        raise HomeError(problem)
    if create:
        for sub in SUBDIRS:
            path = os.path.join(root, sub)
            try:
                os.makedirs(path, mode=0o700, exist_ok=True)
            except OSError as e:
                raise HomeError(f"{root}: cannot write to uvlaunch's home: {e.strerror}") from None
        if _read_only(root):
            raise HomeError(f"{root}: uvlaunch's home is on a read-only file system")
        if not os.access(root, os.W_OK | os.X_OK):
            raise HomeError(f"{root}: uvlaunch's home is not writable")
    return root


def _read_only(root: str) -> bool:
    try:
        return bool(os.statvfs(root).f_flag & getattr(os, "ST_RDONLY", 0))
    except (OSError, AttributeError):
        return False


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


def env_names(root: str) -> list[str]:
    """Names of all environment directories."""
    try:
        entries = os.listdir(paths.envs_dir(root))
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if is_safe_name(e))


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
    return to_trash(root, paths.env_dir(root, name))


def to_trash(root: str, path: str) -> str | None:
    """Rename ``path`` (inside the home) into the trash; its trash path, or None if absent.

    The trash entry keeps the environment's name in front, so that gc leaves it alone
    while that environment's lock is held (sweep.py).
    """
    if not os.path.lexists(path):
        return None
    dest = os.path.join(paths.trash_dir(root), f"{os.path.basename(path)}.{random_suffix(8)}")
    os.replace(path, dest)
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
