"""How uv's output reaches the user: relayed, held back, filtered, or cut to one line.

A first launch shows what ``uv run --script`` would show (download and install
progress, then ``Installed 13 packages in 7ms``), not ``uv sync``'s whole report (the
environment's path, ``Resolved``, ``Prepared``, a ``+ package==version`` line per
package): ``Quiet`` leaves those lines out, unless ``-v`` asks for them.
"""

from __future__ import annotations

import errno
import os

from uvlaunch.uv.spawn import Running, wait

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    import re
    from collections.abc import Callable

    from uvlaunch.uv.escaping import Escaper

    Vet = Callable[[], object]

# Lines of `uv sync`'s report that `uv run` does not print; matched on the visible text.
_REPORT = (
    # Updating: what uv 0.12 says of the generation directory made before it runs.
    rb"^(?:(?:Creating|Updating|Using) (?:script|virtual) environment at"
    rb"|Using (?:CPython|PyPy|GraalPy|Python) \d"
    # No count where there is nothing to count: "Resolved in 0.86ms" (a block with no
    # dependencies), which `uv run --script` does not print either.
    rb"|(?:Resolved|Prepared|Audited|Checked)(?: \d+ packages?)? in "
    # An edit that drops a dependency: `uv run --script` moves to another environment
    # and says nothing of it; the edit's new generation need not either.
    rb"|Uninstalled \d+ packages? in "
    rb"|Would |"
    rb" [-+~] \S)"
)
_ANSI = rb"\x1b\[[0-9;?]*[A-Za-z]"


_PREFIXES = (
    b"Creating ",
    b"Updating ",
    b"Using ",
    b"Resolved ",
    b"Prepared ",
    b"Audited ",
    b"Checked ",
    b"Uninstalled ",
    b"Would ",
    b" + ",
    b" - ",
    b" ~ ",
)
_CROSS = "\u00d7"  # the multiplication sign uv puts before an error
_ERROR_PREFIXES = (b"error: ", _CROSS.encode())  # uv's error, plain or drawn
_SEPARATORS = rb"(\r|\n)"
# Compiled when first used: importing re costs 5 to 10 ms, and a launch that starts no
# uv (a warm start through the slow path, a copy's first launch: thin.py) reads none.
_COMPILED: list[re.Pattern[bytes]] = []


def _patterns() -> list[re.Pattern[bytes]]:
    """The compiled _REPORT, _ANSI and _SEPARATORS."""
    if not _COMPILED:
        import re

        _COMPILED.extend(re.compile(p) for p in (_REPORT, _ANSI, _SEPARATORS))
    return _COMPILED


class Quiet:
    """Drops the report lines from a stream of uv's output, passing the rest on at once.

    Text is held back only while it may still turn out to be a report line (it starts
    like one, and has not ended); anything else, a progress bar's redraw included,
    passes at once. A dropped line keeps its escape sequences (a "clear line" that a
    progress bar relies on) and takes its line end with it.
    """

    __slots__ = ("dropped", "error", "held", "passing")

    def __init__(self) -> None:
        self.held = b""
        self.passing = False  # the rest of this segment is not a report line
        self.dropped = False  # the last segment was dropped: so is its line end
        self.error = b""  # uv's error, from its first line on: the caller says it in one

    def feed(self, data: bytes) -> bytes:
        if self.error:
            self.error += data
            return b""
        out = self._feed(data)
        if self.error:
            self.error += self.held
            self.held = b""
        return out

    def _feed(self, data: bytes) -> bytes:
        out = []
        report = _patterns()[0]
        pieces = _patterns()[2].split(data)
        for i, piece in enumerate(pieces):
            if not piece:
                continue
            if piece in (b"\r", b"\n"):
                if self.passing:
                    out.append(piece)
                    self.passing = False
                    continue
                segment, self.held = self.held, b""
                if _visible(segment).startswith(_ERROR_PREFIXES):
                    self.error = segment + piece + b"".join(pieces[i + 1 :])
                    return b"".join(out)
                if segment and report.match(_visible(segment)):
                    out.append(b"".join(_patterns()[1].findall(segment)))
                    self.dropped = True
                elif segment or not self.dropped:
                    out.append(segment + piece)
                    self.dropped = False
            elif self.passing:
                out.append(piece)
            else:
                self.held += piece
                if not _could_be_report(_visible(self.held)):
                    out.append(self.held)
                    self.held = b""
                    self.passing = True
                    self.dropped = False
        return b"".join(out)

    def flush(self) -> bytes:
        held, self.held = self.held, b""
        return b"" if _patterns()[0].match(_visible(held)) else held


def _visible(text: bytes) -> bytes:
    # Escape sequences out; one cut short at the end of what came so far, too.
    return _patterns()[1].sub(b"", text).partition(b"\x1b")[0]


def _could_be_report(visible: bytes) -> bool:
    """Whether held text may still become a report line or uv's error (so stays held)."""
    return any(p.startswith(visible) or visible.startswith(p) for p in _PREFIXES + _ERROR_PREFIXES)


def relay(
    proc: Running, *, release_when: str, report: bool = False, vet: Vet | None = None
) -> tuple[int, bytes]:
    """Copy ``proc``'s captured stderr to ours until it exits: (exit status, output held).

    Output is held back until the path ``release_when`` exists, then shown as it comes;
    ``vet`` is called then, first: what it raises stops ``proc`` and comes out of here.
    uv creates the environment's pyvenv.cfg only after it has read the script's block
    and found an interpreter, so what is held is what uv says before that: its error
    about the block or the interpreter, which the caller may replace with a clearer one.
    Unless ``report``, the lines of uv's sync report are left out (``Quiet``), and an
    error of uv's after the release is held too, to be said in one line.
    """
    assert proc.output is not None
    held: list[bytes] = []
    released = False
    quiet = None if report else Quiet()
    from uvlaunch.uv.escaping import Escaper

    escaper = Escaper()
    try:
        while True:
            try:
                chunk = os.read(proc.output, 65536)
            except OSError as e:
                if e.errno == errno.EIO:  # a pseudo-terminal whose other end is closed
                    break
                raise
            if not chunk:
                break
            if not released and os.path.exists(release_when):
                released = True
                if vet is not None:
                    _vet(proc, vet)
                show(b"".join(held), quiet, escaper)
                held.clear()
            if released:
                show(chunk, quiet, escaper)
            else:
                held.append(chunk)
    finally:
        os.close(proc.output)
        status = wait(proc)
    if released and quiet is not None:
        show(quiet.flush(), None, escaper)
        if quiet.error:
            if status == 0:
                show(quiet.error, None, escaper)  # an "error:" line from a uv that then succeeded
            else:
                held.append(quiet.error)  # uv's error, for the caller's one line
    show(escaper.flush(), None, None)
    return status, b"".join(held)


def _vet(proc: Running, vet: Vet) -> None:
    try:
        vet()
    except BaseException:
        import signal

        os.kill(proc.pid, signal.SIGTERM)  # relay's `finally` waits for it
        raise


def show(data: bytes, quiet: Quiet | None = None, escaper: Escaper | None = None) -> None:
    """Write uv's output to our stderr, as if uv had written it there itself (but for
    what ``escape`` escapes; ``escaper`` already did)."""
    if quiet is not None:
        data = quiet.feed(data)
    if escaper is not None:
        data = escaper.feed(data)
    try:
        while data:
            data = data[os.write(2, data) :]
    except OSError:
        pass  # stderr closed or gone (a pipe whose reader left): uv's words are lost, as its own


def terminal() -> tuple[int, int]:
    """A pseudo-terminal the size of ours, for uv's stderr when ours is a terminal.

    uv then writes as it would to our terminal: colours, progress bars (which it draws
    only on a terminal), its width. What it writes is copied to ours (``relay``).
    """
    import fcntl
    import termios

    master, slave = os.openpty()
    try:
        size = fcntl.ioctl(2, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
        # No output processing here: our terminal turns \n into \r\n itself, once.
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
    except (OSError, termios.error):
        pass
    return master, slave


def stderr_is_a_tty() -> bool:
    try:
        return os.isatty(2) and hasattr(os, "openpty")
    except OSError:
        return False


_DECORATION = _CROSS + "╰─▶│├╭╮╯┬┴┼ "


def reason(output: str, status: int) -> str:
    """uv's error in ``output`` as one line (its cause included), for a one-line message."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", output)
    kept: list[str] = []
    started = False
    for line in text.splitlines():
        stripped = line.strip().lstrip(_DECORATION).strip()
        if not stripped:
            continue
        if stripped.startswith("error:") or line.lstrip().startswith(_CROSS):
            started = True
            stripped = stripped.removeprefix("error:").strip()
        elif not started:
            continue
        if stripped.startswith("cause:"):
            stripped = stripped.removeprefix("cause:").strip()
        if stripped.startswith("hint:"):
            break
        kept.append(stripped.rstrip(":"))
    if not kept:
        last = [ln.strip() for ln in text.splitlines() if ln.strip()]
        kept = last[-1:] or [f"exit status {status}"]
    summary = ": ".join(kept)
    return summary if len(summary) <= 400 else summary[:397] + "..."
