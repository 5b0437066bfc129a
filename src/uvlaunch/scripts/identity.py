"""Who a script is: its resolved path and its device and inode.

An environment belongs to a file, found first by inode (moves, renames, hard links,
symlinks all keep it) and then by path (an editor's atomic save keeps the path but
makes a new inode). Imported by the fast path: standard library core only.
"""

from __future__ import annotations

import os
import stat as stat_mod

from uvlaunch.errors import ScriptError


class ScriptIdentity:
    """A script file as found now: ``path`` is absolute with symlinks resolved."""

    __slots__ = ("dev", "ino", "invoked", "path")

    def __init__(self, invoked: str, path: str, dev: int, ino: int) -> None:
        self.invoked = invoked
        self.path = path
        self.dev = dev
        self.ino = ino

    def __repr__(self) -> str:
        return f"ScriptIdentity({self.path!r}, dev={self.dev}, ino={self.ino})"


def resolve(invoked: str) -> ScriptIdentity:
    """Resolve and stat the script named on the command line; ScriptError if unusable."""
    path = os.path.realpath(invoked)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(invoked):
            raise ScriptError(f"{invoked}: is a symlink to {path}, which does not exist") from None
        raise ScriptError(f"{invoked}: no such file") from None
    except OSError as e:
        raise ScriptError(f"{invoked}: cannot stat the script: {e.strerror}") from None
    if stat_mod.S_ISDIR(st.st_mode):
        raise ScriptError(f"{invoked}: is a directory, not a script")
    if path == "/proc" or path.startswith(("/proc/", "/sys/")):
        # Regular files by stat, but the kernel's: a new inode on every open.
        raise ScriptError(f"{invoked}: is a file the kernel makes ({path}), not a script")
    if not stat_mod.S_ISREG(st.st_mode):
        raise ScriptError(f"{invoked}: is not a regular file")
    return ScriptIdentity(invoked, path, st.st_dev, st.st_ino)
