"""What uvlaunch may act on: its own files, which no other user can change (like ssh).

uvlaunch executes what it finds in its home (an environment's interpreter, on the word
of a stamp and a warm record). Each directory on that way must be a real directory,
owned by the user running uvlaunch and not writable by group or others; else another
user could put his own interpreter or stamp there. Side files beside a script (its
``.lock``) must be owned by the user or by the script's owner, not writable by others,
regular, and of a sane size. The native launcher makes the same checks (launcher.c,
``trusted_dir``) and hands over to Python, which says what is wrong in one line.

Imported on the warm path: ``os`` and ``stat`` only.
"""

from __future__ import annotations

import os
import stat as stat_mod
import sys

from uvlaunch.contract import HOME_DIRS

POSIX = sys.platform != "win32"


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
            "user controls (remove it, or `chown` it to yourself)"
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

    Follows symlinks (as uv does); a missing file is no problem.
    """
    try:
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
