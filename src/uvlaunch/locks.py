"""Locks between uvlaunch processes: one file per lock in the home's ``locks/``.

On POSIX a lock is ``flock(2)`` on the lock file, taken directly: filelock does the
same underneath (so the two interoperate on the same files), but importing it costs
about 30 ms, paid on every launch that has to create or sync an environment
(docs/performance.md). Elsewhere filelock does the work.

The kernel drops a flock when its holder dies, however it dies: a killed launch never
leaves a lock behind.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from types import TracebackType


class Lock:
    """An exclusive lock on ``path``; a context manager that blocks until it holds it."""

    # A plain class, not filelock's: see the module docstring.
    __slots__ = ("_fallback", "_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._fallback: object = None

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take the lock; with ``blocking=False`` return False at once if another holds it."""
        if sys.platform == "win32":
            return self._acquire_filelock(blocking)
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor releases the flock
        elif self._fallback is not None:
            lock, self._fallback = self._fallback, None
            lock.release()  # type: ignore[attr-defined]

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
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class Attempt:
    """``with Attempt(path) as taken:``: hold the lock inside the block if it is free now."""

    __slots__ = ("_lock", "_taken")

    def __init__(self, path: str) -> None:
        self._lock = Lock(path)
        self._taken = False

    def __enter__(self) -> bool:
        self._taken = self._lock.acquire(blocking=False)
        return self._taken

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._taken:
            self._lock.release()
