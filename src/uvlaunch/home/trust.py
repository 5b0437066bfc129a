"""What uvlaunch may act on: its own files, which no other user can change (like ssh).

uvlaunch executes what it finds in its home (an environment's interpreter, on the word
of a stamp and a warm record). Each directory on that way must be a real directory,
owned by the user running uvlaunch and not writable by group or others; else another
user could put his own interpreter or stamp there. Side files beside a script (its
``.lock``) must be owned by the user or by the script's owner, not writable by others,
regular, and of a sane size; one that is a symlink must be the user's own, and what it
names must pass too. The native launcher makes the same checks (launcher.c,
``trusted_dir``) and hands over to Python, which says what is wrong in one line.

The way to the home, to ``install``'s bin directory and to a bare word's file: way.py.
What uvlaunch makes is private by construction: it works under umask 0o077, uv under
the user's umask tightened to 0o022, and the script gets the user's own umask back.

Imported on the warm path: ``os`` and ``stat`` only.
"""

from __future__ import annotations

import os
import stat as stat_mod
import sys

from uvlaunch.contract import HOME_DIRS
from uvlaunch.home.way import chown

POSIX = sys.platform != "win32"


USER_UMASK: list[int] = []  # the umask uvlaunch was started with, once private_umask ran


def private_umask() -> None:
    """From here on, what uvlaunch makes is its user's alone (umask 0o077), whatever the
    umask it was started with (``umask 000`` or ``002``), which is kept for the script."""
    if POSIX:
        started = os.umask(0o077)
        if not USER_UMASK:
            USER_UMASK.append(started)


def child_umask() -> int:
    """The umask for uv, which builds environments: the user's, but never looser than
    0o022 (no file of an environment writable by group or others)."""
    current = USER_UMASK[0] if USER_UMASK else os.umask(0o077)
    if not USER_UMASK:
        os.umask(current)
    return current | 0o022


def user_umask() -> None:
    """Give the process the umask it was started with again: the script's own, at exec."""
    if USER_UMASK:
        os.umask(USER_UMASK[0])


def dir_problem(path: str) -> str | None:
    """Why the directory ``path`` may not be trusted, in one sentence; None if it may.

    A missing directory is no problem (whoever needs it creates it, 0700).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"{path}: cannot be checked: {e.strerror}"
    if stat_mod.S_ISLNK(st.st_mode):
        return f"{path}: is a symlink; uvlaunch's home must hold real directories"
    if not stat_mod.S_ISDIR(st.st_mode):
        return f"{path}: is not a directory; uvlaunch's home must hold directories"
    return owner_problem(path, st)


def owner_problem(path: str, st: os.stat_result, *, also: int | None = None) -> str | None:
    """Why ``path`` (stat ``st``) is another user's to change; None if it is not.

    ``also``: a second uid that may own it (a script's owner, for its side files).
    """
    if not POSIX:
        return None
    if st.st_uid != os.geteuid() and st.st_uid != also:
        return (
            f"{path}: is owned by uid {st.st_uid}, not by you; refusing to use what another "
            f"user controls (remove it, or run `{chown(path)}`)"
        )
    if st.st_mode & (stat_mod.S_IWGRP | stat_mod.S_IWOTH):
        mode = stat_mod.S_IMODE(st.st_mode)
        return f"{path}: is writable by others (mode {mode:o}); run `chmod go-w {path}`"
    return None


def home_problem(root: str) -> str | None:
    """The first of the home's directories that may not be trusted, and why.

    The home itself may be reached through a symlink (a home on another disk); its
    ownership and mode are checked by whoever opens it (store.check_home_permissions).
    """
    for sub in HOME_DIRS:
        problem = dir_problem(os.path.join(root, sub))
        if problem is not None:
            return problem
    return None


def env_problem(env_dir: str, generation: str) -> str | None:
    """Why an environment may not be trusted: its directory (holding its generations and
    their pointer), the generation to start, or that generation's ``bin``."""
    bin_dir = os.path.join(generation, "Scripts" if not POSIX else "bin")
    for path in (env_dir, generation, bin_dir):
        problem = dir_problem(path)
        if problem is not None:
            return problem
    return None


MAX_SIDE_FILE = 16 * 1024 * 1024  # a script's lock file; uv's are kilobytes


def side_file_problem(path: str, script_owner: int) -> str | None:
    """Why the file ``path`` beside a script may not be read and acted on; None if it may.

    A missing file is no problem. A symlink (which uv would follow) must be the user's
    own, and what it names must pass. No message shows the file's content.
    """
    try:
        st = os.lstat(path)
        if stat_mod.S_ISLNK(st.st_mode):
            if POSIX and st.st_uid != os.geteuid():
                return (
                    f"{path}: is a symlink owned by uid {st.st_uid}, not by you; refusing to "
                    "follow it (remove it)"
                )
            st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"{path}: cannot be read: {e.strerror}"
    if not stat_mod.S_ISREG(st.st_mode):
        return f"{path}: is not a regular file; remove it, or put the script's lock file there"
    if st.st_size > MAX_SIDE_FILE:
        return f"{path}: is {st.st_size} bytes, too large for a script's lock file"
    return owner_problem(path, st, also=script_owner)
