"""The errors uvlaunch shows to users: each carries one full sentence; and ``printable``,
through which every name uvlaunch prints passes."""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``, bidi overrides as
    ``\\u202e``): a file name can neither forge a line of ``list`` nor drive the terminal
    (an OSC sequence setting the title or the clipboard). Other text is left as it is."""
    if text.isprintable():
        return text
    out = []
    for c in text:
        o = ord(c)
        if o < 0x20 or 0x7F <= o <= 0x9F or 0xDC80 <= o <= 0xDC9F:
            out.append(_NAMED.get(c) or f"\\x{o & 0xFF:02x}")  # a raw C1 byte too
        elif 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069:
            out.append(f"\\u{o:04x}")
        else:
            out.append(c)
    return "".join(out)


class UvlaunchError(Exception):
    """A problem the user can fix; shown as one line on stderr, exit status 2."""


class ScriptError(UvlaunchError):
    """The script file itself is unusable (missing, unreadable, malformed block)."""


class UvError(UvlaunchError):
    """uv is missing, too old, or failed."""


class HomeError(UvlaunchError):
    """uvlaunch's home cannot be used."""


class UnknownEnvironmentError(UvlaunchError):
    """A name or path given to a command matches no managed environment."""


class CommandError(UvlaunchError):
    """A command given to ``exec`` cannot be started.

    ``status`` is the one shells and ``env`` exit with: 127 when the command is not
    found, 126 when it is found but cannot be executed.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


UNEXPECTED = "uvlaunch stopped there, at a step that did not expect it"


def unexpected(error: OSError) -> UvlaunchError:
    """The last resort at the edges (cli/output.py, the slow path) for an OSError that no
    layer turned into a sentence where it arose: one line naming the file and the reason.

    Each one is a gap to close where the error arises, with a sentence that says what
    state the environment was left in (tests/test_faults.py looks for UNEXPECTED).
    """
    names = [str(n) for n in (error.filename, error.filename2) if n is not None]
    reason = error.strerror or str(error) or type(error).__name__
    where = " -> ".join(names) if names else "a system call"
    return UvlaunchError(f"{where}: {reason}; {UNEXPECTED} (`uvlaunch list` shows the state)")
