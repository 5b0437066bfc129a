"""Locks between uvlaunch processes: one file per lock in the home's ``locks/``.

On POSIX a lock is ``flock(2)`` on the lock file, taken directly: filelock does the
same underneath (so the two interoperate on the same files), but importing it costs
about 30 ms, paid on every launch that has to create or sync an environment
(docs/performance.md). Elsewhere filelock does the work.

The kernel drops a flock when its holder dies, however it dies: a killed launch never
leaves a lock behind. A lock file may be deleted by whoever holds it exclusively (the
removal of an environment deletes its locks): a process that was waiting on the old
file finds, once it has the lock, that the path no longer leads to the file it locked,
and tries again on the new one.

The descriptors of held locks are listed in ``HELD``: uv children inherit them
(uv/spawn.py), so that a lock is not free while a uv started under it may still write.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

HELD: set[int] = set()  # descriptors of the flocks this process holds
WAIT_NOTICE = 1.0  # seconds a briefly held lock is waited for before saying so


class Lock:
    """A lock on ``path``; a context manager that blocks until it holds it.

    ``shared``: many holders at once, none while an exclusive holder has it.
    """

    # A plain class, not filelock's: see the module docstring.
    __slots__ = ("_fallback", "_fd", "_noted", "path", "shared", "waiting")

    def __init__(
        self, path: str, *, shared: bool = False, waiting: Callable[[], None] | None = None
    ) -> None:
        self.path = path
        self.shared = shared
        self.waiting = waiting  # told once when ``with`` has waited WAIT_NOTICE seconds
        self._fd: int | None = None
        self._fallback: object = None
        self._noted = False

    @property
    def fd(self) -> int | None:
        """The descriptor holding the flock, while it is held (POSIX)."""
        return self._fd

    def acquire(self, *, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; with ``blocking=False`` return False at once if another holds it,
        with a ``timeout`` once that many seconds have passed."""
        if timeout is not None:
            import time

            end = time.monotonic() + timeout
            while not self.acquire(blocking=False):
                if time.monotonic() >= end:
                    return False
                time.sleep(0.02)
            return True
        if sys.platform == "win32":
            return self._acquire_filelock(blocking)
        import fcntl

        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        while True:
            fd = _open(self.path)
            try:
                fcntl.flock(fd, mode if blocking else mode | fcntl.LOCK_NB)
                if _still_there(fd, self.path):
                    break
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # deleted or replaced while we waited: lock the file there now
        self._fd = fd
        HELD.add(fd)
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            HELD.discard(fd)
            if self._noted:
                self._noted = False
                try:
                    os.ftruncate(fd, 0)  # the note was true while it was held
                except OSError:
                    pass
            os.close(fd)  # closing the only descriptor releases the flock
        elif self._fallback is not None:
            lock, self._fallback = self._fallback, None
            lock.release()  # type: ignore[attr-defined]

    def note(self, text: str) -> None:
        """Say in the lock file, while this holds it, what for (``read_note``); a waiter
        reads it to say what it waits for. Emptied again on release."""
        if self._fd is None:
            return  # not held, or held through filelock: waiters get no detail
        data = text.encode("utf-8", "replace")[:NOTE_MAX]
        try:
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))
            self._noted = True
        except OSError:
            pass  # a courtesy: a full disk must not stop the work

    def detach(self) -> int | None:
        """Keep the flock past an ``exec``: the descriptor is inherited, and never closed here."""
        fd, self._fd = self._fd, None
        if fd is not None:
            HELD.discard(fd)
            os.set_inheritable(fd, True)
        return fd

    def _acquire_filelock(self, blocking: bool) -> bool:
        from filelock import FileLock, Timeout

        lock = FileLock(self.path)
        try:
            lock.acquire(timeout=-1 if blocking else 0)
        except Timeout:
            return False
        self._fallback = lock
        return True

    def __enter__(self) -> Lock:
        if self.waiting is None:
            self.acquire()
        elif not self.acquire(blocking=False):
            self._wait_saying(self.waiting)
        return self

    def _wait_saying(self, waiting: Callable[[], None]) -> None:
        import time

        # Held briefly by design (the index lock): a short wait goes unsaid, a long one
        # (a holder stopped with ^Z, a slow disk) is said once, then waited out.
        deadline = time.monotonic() + WAIT_NOTICE
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if self.acquire(blocking=False):
                return
        waiting()
        self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _open(path: str) -> int:
    """The lock file's descriptor, created if missing; read-only on a read-only home.

    flock needs no write access: a launch from a home mounted read-only (a container, a
    shared install) still takes its shared lock on the file that is there. The
    descriptor is never 0, 1 or 2, whatever the caller left closed.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        import errno

        if e.errno not in (errno.EROFS, errno.EACCES):
            raise
        fd = os.open(path, os.O_RDONLY)
    if fd <= 2:
        import fcntl

        try:
            return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
        finally:
            os.close(fd)
    return fd


def _still_there(fd: int, path: str) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (st.st_dev, st.st_ino)


NOTE_MAX = 200


def read_note(path: str) -> str:
    """What the holder of the lock at ``path`` said it is doing (``Lock.note``), or ""."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return ""
    try:
        return os.read(fd, NOTE_MAX).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


class Attempt:
    """``with Attempt(path) as taken:``: hold the lock inside the block if it is free now."""

    __slots__ = ("_lock", "_taken")

    def __init__(self, path: str) -> None:
        self._lock = Lock(path)
        self._taken = False

    def __enter__(self) -> bool:
        self._taken = self._lock.acquire(blocking=False)
        return self._taken

    def note(self, text: str) -> None:
        """``Lock.note``, when the lock was taken."""
        if self._taken:
            self._lock.note(text)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._taken:
            self._lock.release()
