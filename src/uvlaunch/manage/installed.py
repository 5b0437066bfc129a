"""Installed commands: the files ``uvlaunch install`` puts on PATH, and the home's entries.

A command is a small POSIX shell file in the bin directory that runs the script where it
is, through uvlaunch (absolute paths; ``text`` shows the whole of it)::

    #!/bin/sh
    # uvlaunch-command: made by `uvlaunch install`; `uvlaunch uninstall NAME` removes it.
    ...
    [ -f "$s" ] && exec "$u" "$s" "$@"
    exec "$u" run --command "$0" "$s" "$@"

Its second line marks the files uvlaunch made: no other file is overwritten (without
``--force``) or removed. Both ``exec``s replace the shell, so the script gets the
arguments, standard streams, signals and exit status of a direct start, and a warm start
costs one ``/bin/sh`` more. When the script's path is gone, ``run --command`` follows it
(install.py).

Each command has an entry in the home, ``commands/<key>`` (key: a hash of the command's
path): the command, its script and its environment, so that list, show, gc and remove
find an environment's commands wherever they are. Entries are JSON, 0600 in a 0700
directory, written atomically; an entry another user owns or others can write is
ignored, as is every file of the home that uvlaunch acts on.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from uvlaunch.errors import UvlaunchError
from uvlaunch.home import store

SHEBANG = b"#!/bin/sh\n"
MARKER = b"# uvlaunch-command:"
HEAD = SHEBANG + MARKER
# Never follow a symlink planted where a file is expected; never block on a FIFO.
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True)
class Command:
    """An installed command: where it is, the script it runs, the environment it uses."""

    path: str
    script: str
    env: str


# -- the command file ---------------------------------------------------------------


def text(uvlaunch: str, script: str, name: str) -> bytes:
    """The command file that runs ``script`` with the uvlaunch at ``uvlaunch``."""
    lines = [
        HEAD + f" made by `uvlaunch install`; `uvlaunch uninstall {name}` removes it.".encode(),
        b"# It runs the script below where it is, in the script's uvlaunch environment.",
        b"u=" + _sh_quote(uvlaunch),
        b"s=" + _sh_quote(script),
        # Checked first: a failed exec would end the shell with its own message. "Gone"
        # only when it is: not when it is there but not executable, or behind a directory
        # this user may not enter (another user's private install, a shared bin directory).
        b'[ -x "$u" ] || { d=$u; while d=${d%/*}; [ -n "$d" ] && ! [ -e "$d" ]; do :; done',
        b"  w='is gone; install the command again with the uvlaunch you use now'",
        b'  { [ -e "$u" ] || ! [ -x "${d:-/}" ]; } && '
        b"w='cannot be run by this user (check its permissions)'",
        b'  printf \'uvlaunch: error: %s: %s %s\\n\' "$0" "$u" "$w" >&2; exit 2; }',
        b'[ -f "$s" ] && exec "$u" "$s" "$@"',
        # The script's path is gone: uvlaunch follows a move, or says so (install.follow).
        b'exec "$u" run --command "$0" "$s" "$@"',
    ]
    return b"\n".join(lines) + b"\n"


def _sh_quote(path: str) -> bytes:
    # Single quotes keep every byte as it is (newlines too), except the quote itself.
    return b"'" + os.fsencode(path).replace(b"'", b"'\\''") + b"'"


def script_of(data: bytes) -> str | None:
    """The script a command file runs, read back from its ``s=`` line."""
    values = _values(data)
    return values[1] if values else None


def uvlaunch_of(data: bytes) -> str | None:
    """The uvlaunch a command file runs, read back from its ``u=`` line."""
    values = _values(data)
    return values[0] if values else None


def _values(data: bytes) -> tuple[str, str] | None:
    # In order, each quoted value read to its end: a path may hold newlines and quotes.
    if not data.startswith(HEAD):
        return None
    at = data.find(b"\nu='")  # the comment lines above hold no quote
    found = []
    for var in (b"u", b"s"):
        if data[at : at + 4] != b"\n" + var + b"='":
            return None
        at, out = at + 4, bytearray()
        while True:
            j = data.find(b"'", at)
            if j < 0:
                return None
            out += data[at:j]
            at = j + 1
            if data[j : j + 4] != b"'\\''":
                break
            out += b"'"
            at = j + 4
        found.append(os.fsdecode(bytes(out)))
    return found[0], found[1]


def is_ours(path: str) -> bool:
    """Whether ``path`` is a command file uvlaunch made (and this user owns)."""
    try:
        fd = os.open(path, READ_FLAGS)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            return False
        return os.read(fd, len(HEAD)) == HEAD
    except OSError:
        return False
    finally:
        os.close(fd)


def read_file(path: str) -> bytes | None:
    """The bytes of the file at ``path`` (not following a symlink), or None."""
    try:
        fd = os.open(path, READ_FLAGS)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_file(path: str, data: bytes) -> None:
    """Put the command file ``data`` at ``path`` atomically, executable."""
    staged = stage(path, data)
    try:
        place(staged, path)
    finally:
        unstage(staged)


def stage(path: str, data: bytes) -> str:
    """Write ``data`` to a new file beside ``path``, executable; its path (see ``place``).

    A bin directory that is not writable fails here, with one line naming it.
    """
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.uvlaunch-{store.random_suffix(12)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
        try:
            os.fchmod(fd, 0o755)  # uvlaunch's umask is 077 (trust.private_umask)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        unstage(tmp)
        raise UvlaunchError(f"{directory}: cannot write the command {path}: {e.strerror}") from None
    return tmp


def place(staged: str, path: str) -> None:
    """Rename the staged file over ``path``, in one step."""
    try:
        os.replace(staged, path)
    except OSError as e:
        raise UvlaunchError(f"{path}: cannot write the command: {e.strerror}") from None


def unstage(staged: str) -> None:
    """Delete a staged file that was not placed."""
    try:
        os.unlink(staged)
    except OSError:
        pass


def remove_file(path: str) -> bool:
    """Delete the command file at ``path`` if uvlaunch made it; whether it was deleted."""
    if not is_ours(path):
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise UvlaunchError(f"{path}: cannot remove the command: {e.strerror}") from None
    return True
