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
    """A script file as found now: ``path`` is absolute with symlinks resolved.

    ``uid``: its owner. Its birth time and its block are read when asked for (only a
    file found by a recorded inode under a new name needs them: samefile.py).
    """

    __slots__ = ("_block", "_born", "dev", "ino", "invoked", "path", "uid")

    def __init__(self, invoked: str, path: str, dev: int, ino: int, uid: int = -1) -> None:
        self.invoked = invoked
        self.path = path
        self.dev = dev
        self.ino = ino
        self.uid = uid
        self._born: int | bool | None = False  # False: not read yet
        self._block: str | bool | None = False

    def born(self) -> int | None:
        """The file's birth time in ns, None where the filesystem keeps none."""
        if self._born is False:
            from uvlaunch.home import samefile

            self._born = samefile.birth_ns(self.path)
        assert self._born is not True
        return self._born

    def block(self) -> str | None:
        """The file's metadata block, None when it has none or cannot be read."""
        if self._block is False:
            from uvlaunch.scripts import metadata

            try:
                self._block = metadata.find_block(
                    metadata.read_text(self.path, display=self.invoked), self.invoked
                )
            except (OSError, ValueError, ScriptError):
                self._block = None
        assert self._block is not True
        return self._block

    def knows_block(self, block: str | None) -> None:
        """Record the block already read from the file (read_script)."""
        self._block = block

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
    return ScriptIdentity(invoked, path, st.st_dev, st.st_ino, st.st_uid)
