"""Who holds an environment's lock, for the command that finds it busy.

``upgrade``, ``reinstall`` and ``rollback`` take the lock without waiting and skip an
environment whose lock is held: by a launch (or ``sync``) creating or syncing it, or
by another of these commands. So that the one skipped can say which, these commands
write their pid and name into the lock file while they hold it (``saying``); a lock
file that says nothing, or names a process that is gone, is held by a launch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from uvlaunch import paths, store


@contextlib.contextmanager
def saying(root: str, name: str, command: str) -> Iterator[None]:
    """While inside (with the lock of ``name`` held), its lock file names ``command``.

    Emptied on the way out, so that a launch taking the lock next is not taken for it.
    """
    try:
        fd = os.open(paths.env_lock_path(root, name), os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        yield  # saying who holds the lock is a courtesy
        return
    try:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {command}".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)


def holder(root: str, name: str) -> str:
    """Who holds the lock of ``name``, in words: another command (``saying``), or a launch."""
    try:
        with open(paths.env_lock_path(root, name), "rb") as f:
            pid_text, _, command = f.read(100).decode("ascii", "replace").partition(" ")
        pid = int(pid_text)
        os.kill(pid, 0)  # a command killed while holding it said so for nothing
    except (OSError, ValueError):
        return store.BUILDING
    if not command.isalpha():
        return store.BUILDING
    return f"`uvlaunch {command}` (pid {pid}) is working on it"
