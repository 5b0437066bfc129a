"""uv's output made safe for a terminal: its colours kept, what a file name could carry
escaped (``errors.printable``'s rule, for bytes as they stream)."""

from __future__ import annotations

import re

from uvlaunch.errors import printable

# What of uv's output reaches the terminal as it is: CSI sequences (colours, a progress
# bar's redraw) and line ends. Anything else a terminal acts on (an OSC sequence setting
# the title or the clipboard, a bell, C1 bytes, bidi overrides), which a file name in
# uv's message could carry, is escaped as errors.printable escapes it.
_KEPT = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|[\r\n\t]")
# The end of a chunk that may continue in the next one: an escape sequence or a UTF-8
# character cut short (held, at most a few bytes, until the next chunk).
_UNFINISHED = re.compile(rb"(?:\x1b(?:\[[0-9;?]*[ -/]*)?|[\xc0-\xff][\x80-\xbf]{0,2})\Z")


def escape(data: bytes) -> bytes:
    """``data`` with what a terminal would act on escaped, but colours and line ends."""
    out = []
    last = 0
    for kept in _KEPT.finditer(data):
        out.append(_printable(data[last : kept.start()]))
        out.append(kept.group())
        last = kept.end()
    out.append(_printable(data[last:]))
    return b"".join(out)


def _printable(data: bytes) -> bytes:
    if not data:
        return data
    text = data.decode("utf-8", "surrogateescape")
    return printable(text).encode("utf-8", "surrogateescape")


class Escaper:
    """``escape`` over a stream: what may continue in the next chunk waits for it."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held = b""

    def feed(self, data: bytes) -> bytes:
        data = self.held + data
        unfinished = _UNFINISHED.search(data)
        start = len(data) if unfinished is None else unfinished.start()
        if len(data) - start > 64:  # a CSI sequence that never ends: nothing to wait for
            start = len(data)
        data, self.held = data[:start], data[start:]
        return escape(data)

    def flush(self) -> bytes:
        held, self.held = self.held, b""
        return escape(held)
