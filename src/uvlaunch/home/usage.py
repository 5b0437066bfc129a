"""Use recorded outside the home, for launches from a home that cannot be written.

A launch marks its generation as used by touching its stamp (stamp.py): that is what
``list`` shows as the last launch and what ``gc --unused-for`` goes by. From a home
mounted read-only (systemd's ``ProtectHome=read-only``, a read-only container) the touch
fails, and a read-only mount updates no access time either. Such a launch records its
use in the state directory instead (the native launcher the same way, in C), which gc
reads beside the stamp:

    STATE/used/HOMEKEY/home               the home's path, for a person reading this
    STATE/used/HOMEKEY/NAME.current       its mtime: the last use of NAME's first variant
    STATE/used/HOMEKEY/NAME.current-KEY   ... and of the variant for another interpreter

STATE is ``UVLAUNCH_STATE_DIR``, else ``$XDG_STATE_HOME/uvlaunch``, else
``~/.local/state/uvlaunch``; HOMEKEY is a hash of the home's path as the launch spells
it (``paths.home``), so one state directory serves several homes. Every directory on
the way must be the user's own and not writable by others, and the record a regular
file of theirs (never followed through a symlink); anything else is neither written
nor believed. Recording is best effort: a launch never fails because of it.

Imported by the warm fast path: ``os`` and ``sys`` only.
"""

from __future__ import annotations

import os
import stat as stat_mod

from uvlaunch import contract
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import paths, pointer, way
from uvlaunch.home.names import is_safe_name

APP = contract.STATE_APP
USED = contract.USED_DIR


def state_dir() -> str | None:
    """``UVLAUNCH_STATE_DIR``, else ``$XDG_STATE_HOME/uvlaunch`` (when absolute), else
    ``~/.local/state/uvlaunch``; None when there is no home directory to put it in.
    A relative ``UVLAUNCH_STATE_DIR`` is refused (HomeError), as ``UVLAUNCH_HOME`` is."""
    override = paths.absolute_setting("UVLAUNCH_STATE_DIR")
    if override is not None:
        return override
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):  # a relative one is ignored, as the XDG spec says
        return os.path.join(os.path.normpath(xdg), APP)
    home = os.path.expanduser("~")
    return os.path.join(home, ".local", "state", APP) if os.path.isabs(home) else None


home_key = paths.home_key  # the warm record's file name carries it too


def _file_name(name: str, which: str) -> str | None:
    if not is_safe_name(name) or which[:7] != pointer.CURRENT:
        return None
    return f"{name}.{which}" if pointer.is_variant(which[7:]) else None


def _ours(path: str) -> bool:
    """A real directory of this user's that no one else can write (trust.py's rule)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat_mod.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _used_dir(root: str, *, create: bool) -> str | None:
    state = state_dir()
    if state is None:
        return None
    used = os.path.join(state, USED)
    top = os.path.join(used, home_key(root))
    if create and not _ours(top):
        # Nothing is made where another user could swap the way (sudo -E's kept HOME, a
        # state directory of theirs): each directory passes before anything is made in it.
        if not _make_dirs(state) or not _ours(state):
            return None
        for directory in (used, top):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                pass
            if not _ours(directory):
                return None
        try:
            fd = os.open(os.path.join(top, "home"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, os.fsencode(root) + b"\n")
            finally:
                os.close(fd)
        except FileExistsError:
            pass
    return top if all(_ours(d) for d in (state, used, top)) else None


def _make_dirs(path: str) -> bool:
    """Create ``path`` and its missing parents (0700), each only inside a directory that
    passed ssh's walk (way.py), and walked again once made; whether all passed."""
    parts = path.split(os.sep)
    for i in range(2, len(parts) + 1):
        prefix = os.sep.join(parts[:i])
        if not os.path.lexists(prefix):
            try:
                os.mkdir(prefix, 0o700)
            except FileExistsError:
                pass
        if way.walk_problem(prefix) is not None:
            return False
    return True


def record(root: str, name: str, which: str) -> None:
    """Note now as the last use of the variant ``which`` (a pointer: ``current``,
    ``current-KEY``) of ``name`` in the home ``root``; silently nothing when it cannot."""
    file_name = _file_name(name, which)
    if file_name is None:
        return
    try:
        top = _used_dir(root, create=True)
        if top is None:
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        fd = os.open(os.path.join(top, file_name), flags | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            st = os.fstat(fd)
            if stat_mod.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                os.utime(fd)
        finally:
            os.close(fd)
    except (OSError, ValueError, UvlaunchError):
        pass  # a relative UVLAUNCH_STATE_DIR too: the launch goes on regardless


class Uses:
    """Every use recorded in the state directory for the home ``root``, read at once:
    ``list`` and ``gc`` ask for 10,000 environments, and finding the state directory
    (three checked directories) for each of them cost a fifth of their time."""

    __slots__ = ("times",)

    def __init__(self, root: str) -> None:
        self.times: dict[str, float] = {}
        top = _used_dir(root, create=False)
        if top is None:
            return
        try:
            with os.scandir(top) as entries:
                for entry in entries:
                    st = entry.stat(follow_symlinks=False)
                    if stat_mod.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                        self.times[entry.name] = st.st_mtime
        except OSError:
            self.times.clear()

    def last(self, name: str, which: str) -> float | None:
        """What ``last_used`` says, from what was read."""
        file_name = _file_name(name, which)
        return None if file_name is None else self.times.get(file_name)


def last_used(root: str, name: str, which: str) -> float | None:
    """The last use recorded for the variant ``which`` of ``name`` in the state
    directory (seconds), or None when there is none to believe."""
    file_name = _file_name(name, which)
    top = None if file_name is None else _used_dir(root, create=False)
    if top is None or file_name is None:
        return None
    try:
        st = os.lstat(os.path.join(top, file_name))
    except OSError:
        return None
    if not stat_mod.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        return None
    return st.st_mtime
