"""Where environments live: the home, atomic writes, locks and removal.

Layout of the home (see docs/how-it-works.md):

    envs/<name>/g<N>/      a generation: a virtual environment; its uvlaunch-stamp marks
                           it complete, its uvlaunch-use is locked by the scripts it runs
    envs/<name>/current    symlink to the current generation (pointer.py)
    envs/<name>/previous   symlink to the generation kept for rollback
    records/<name>.json    who the environment belongs to (records.py)
    index/...              which environment a file or path has (records.py)
    locks/<name>.lock      held while an environment is created, synced, upgraded or removed
    locks/index.lock       held while the index and records change
    pyc/<xx>/<sha256>      byte-compiled files shared by environments (hard links)
    piped/piped-<key>.py   the block of a script read from a pipe (its "script")
    piped/url-<key>.py     a script fetched from a URL, as fetched last (fetch.py)
    warm/<dev>-<ino>       what a warm start checks, for the native launcher (warm.py)
    commands/<key>         an installed command: its path, script and environment (registry.py)
    trash/                 environments taken out of use, waiting to be deleted
    tmp/                   temporary files, renamed over records atomically

Every record and index write goes to tmp/ first and is renamed into place.
"""

from __future__ import annotations

import os
import stat
import sys
import time

from uvlaunch.contract import HOME_DIRS
from uvlaunch.errors import HomeError
from uvlaunch.home import locks, paths, trust, way
from uvlaunch.home.names import is_safe_name

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# This module is on the way of every launch that creates or syncs an environment, so
# what only some paths need (json, shutil) is imported where it is used, and nothing
# heavier than ``os`` is imported here: dataclasses, contextlib, uuid, hashlib and
# filelock together cost more than 40 ms (docs/performance.md).

SUBDIRS = HOME_DIRS


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex."""
    if not _SHA256:
        _SHA256.append(_sha256())
    return str(_SHA256[0](data).hexdigest())


_SHA256: list[Any] = []  # found once: a failed import costs 0.1 ms, and gc hashes 10,000 times


def _sha256() -> Any:
    # hashlib loads OpenSSL first (2.5 ms); CPython's builtin module gives the same digest.
    # (bytecode.py keeps a copy: it runs as a script of its own under other Pythons.)
    for module in ("_sha2", "_sha256"):  # 3.12+, then 3.8-3.11
        try:
            return __import__(module).sha256
        except ImportError:
            continue
    import hashlib

    return hashlib.sha256


def random_suffix(n: int) -> str:
    """``n`` random hex digits (uuid4 would cost 6 ms of imports)."""
    return os.urandom((n + 1) // 2).hex()[:n]


def open_home(create: bool = True) -> str:
    """The home directory, created 0700 and checked like ssh checks ``~/.ssh``."""
    root = paths.home()
    # Nothing is created, or trusted, on a way another user controls (way.walk): a
    # symlink of theirs in /tmp, a HOME of theirs that sudo kept (way.py).
    check_way(root)
    if create:
        try:
            way.make_dirs(root, 0o700)  # its missing parents 0755, whatever the umask
        except OSError as e:
            raise HomeError(f"{root}: cannot create uvlaunch's home: {e.strerror}") from None
        check_way(root)  # again: a sticky directory lets another user make it first
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


def check_way(root: str) -> None:
    """Refuse a home on a way another user controls (way.walk), naming the cause."""
    problem = way.home_way_problem(root)
    if problem is not None:
        raise HomeError(problem)


def check_home_permissions(root: str, st: os.stat_result) -> None:
    """Refuse a home that another user owns or that others can write."""
    if sys.platform == "win32":
        return
    if not stat.S_ISDIR(st.st_mode):
        raise HomeError(f"{root}: uvlaunch's home is not a directory")
    if st.st_uid != os.geteuid():
        raise HomeError(
            f"{root}: uvlaunch's home is owned by uid {st.st_uid}, not by you; refusing to "
            f"run environments another user controls (if it is yours, run `{way.chown(root)}`;"
            " else set UVLAUNCH_HOME)"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise HomeError(
            f"{root}: uvlaunch's home is writable by others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run `chmod 700 {root}`"
        )


# -- atomic files -----------------------------------------------------------------


def write_atomic(root: str, path: str, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it.

    On failure (a full disk) the old file is as it was; HomeError says why in one line.
    ``durable=False``: no fsync, for a launch's own files (record, index, stamp). An
    fsync waits for the filesystem to commit everything written before it (ext4's
    ordered journal), the previous launch's background compiling included: that made
    every first launch after another one slower. Any process kill still leaves the old
    file or the new one; a power cut just after may leave one empty, which reads as
    damaged and is repaired (docs/reliability.md); the background compiler makes them
    durable once the script has started (``make_durable``).
    """
    tmp = os.path.join(paths.tmp_dir(root), f"{os.path.basename(path)}.{random_suffix(32)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
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
            raise HomeError(
                f"{path}: cannot write: {e.strerror or e}; it was left as it was"
            ) from None
        raise


def make_durable(files: list[str]) -> None:
    """fsync ``files`` that were written with ``durable=False`` (those still there)."""
    for path in files:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def remove_file(path: str) -> None:
    """Delete the file ``path`` if it is there; HomeError in one line when it cannot go."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise HomeError(f"{path}: cannot delete it: {e.strerror or e}; it is still there") from None


def env_names(root: str) -> list[str]:
    """Names of all environment directories."""
    try:
        entries = os.listdir(paths.envs_dir(root))
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if is_safe_name(e))


# -- locks ------------------------------------------------------------------------


def index_lock(root: str, waiting: Callable[[str], None] | None = None) -> locks.Lock:
    """Held while the index and records change; ``waiting`` is told its path once a
    ``with`` has waited long for it (locks.WAIT_NOTICE)."""
    path = os.path.join(paths.locks_dir(root), "index.lock")
    return locks.Lock(path, waiting=None if waiting is None else lambda: waiting(path))


def env_lock(path: str) -> locks.Lock:
    """Held while the environment is created, synced, upgraded or removed (its path:
    ``Env.lock_path``, the one place that names it)."""
    return locks.Lock(path)


def hold_env_lock(
    path: str,
    *,
    doing: str,
    waiting: Callable[[str], None] | None = None,
    patience: float = 0,
) -> locks.Lock:
    """Take the environment's lock (release it), saying what for: ``doing`` completes
    "uvlaunch (pid N) ..." (e.g. "is upgrading its environment").

    When another process holds it for longer than ``patience`` seconds, ``waiting`` is
    told once who that is and what it said it is doing, before this one blocks.
    """
    lock = env_lock(path)
    if not lock.acquire(blocking=False) and not (patience > 0 and lock.acquire(timeout=patience)):
        if waiting is not None:
            waiting(_holder(lock.path))
        lock.acquire()
    lock.note(f"{os.getpid()} {doing}")
    return lock


def holder(path: str) -> str:
    """Who holds the environment's lock ``path``, in words, as it said (``Lock.note``)."""
    return _holder(path)


def _holder(path: str) -> str:
    pid, _, doing = locks.read_note(path).partition(" ")
    if pid.isdigit() and doing:
        return f"uvlaunch (pid {pid}), which {doing}"
    return "another uvlaunch, which is creating, syncing or upgrading its environment"


def try_env_lock(path: str) -> locks.Attempt:
    """``with try_env_lock(...) as taken:`` holds the environment's lock if it is free now."""
    return locks.Attempt(path)


def use_lock(generation: str) -> locks.Lock:
    """The shared lock a launch holds on its generation from its check until its script exits."""
    return locks.Lock(paths.generation_lock_path(generation), shared=True)


BUILDING = "a launch is creating or syncing it"
RUNNING = "a running script is using it"


class Exclusive:
    """``with env.exclusive() as busy:``: the environment's lock, if it is free now.

    ``busy`` is None when this process holds it (nothing can build or remove the
    environment meanwhile), else why not. The generations that running scripts use
    have locks of their own, which removal takes one by one (generations.py).
    """

    __slots__ = ("_build",)

    def __init__(self, path: str) -> None:
        self._build = locks.Lock(path)

    def __enter__(self) -> str | None:
        if not self._build.acquire(blocking=False):
            return BUILDING
        return None

    def __exit__(self, *exc: object) -> None:
        self._build.release()

    def delete_files(self) -> None:
        """Delete the lock file while holding it (waiters then lock the new one)."""
        remove_file(self._build.path)


def now() -> float:
    return time.time()
