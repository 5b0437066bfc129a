"""The example sessions of README.md and docs/*.md, read and compared (tests/test_docs.py).

A session is a fenced ``console`` block: lines starting with ``$ `` are commands, the
lines after each, up to the next command, what it prints (stdout and stderr together).
An HTML comment just above a block, ``<!-- docs-test ... -->``, says how to run it: its
first line may be ``not run: REASON``; the lines after it are shell commands that set
the scene, unseen by the reader (``use NAME`` runs the lines of an earlier
``<!-- docs-test define NAME ... -->``). ``<!-- docs-test home PATH -->`` anywhere in a
file says which path its examples show for the user's home. The placeholders are in
docs/architecture.md ("Docs that run"); ``normalize`` is their one definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOME = "/tmp/demo/home"  # lifecycle.md's; the sandbox's root shows as /tmp/demo
_COMMENT = re.compile(r"<!--\s*docs-test\b(.*?)-->", re.S)
_FENCE = re.compile(r"^( *)```console\s*$")


@dataclass
class Session:
    """One ``console`` block: where it is, what sets its scene, its commands."""

    file: str
    line: int
    home: str
    setup: list[str] = field(default_factory=list)
    not_run: str | None = None
    steps: list[tuple[str, list[str]]] = field(default_factory=list)  # (command, output)

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def sessions(path: Path, shown_as: str) -> list[Session]:
    """The console blocks of the markdown file ``path`` (named ``shown_as`` in test ids)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    home = DEFAULT_HOME
    defined: dict[str, list[str]] = {}
    comments: dict[int, str] = {}  # the line a comment ends on -> its body
    for m in _COMMENT.finditer(text):
        body = m.group(1)  # its first line (on the line of "docs-test"), then the rest
        head, _, rest = body.partition("\n")
        words = head.split()
        if words[:1] == ["home"]:
            home = words[1]
        elif words[:1] == ["define"]:
            defined[words[1]] = _expand(rest.splitlines(), defined)
        else:
            comments[text.count("\n", 0, m.end())] = body
    found = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        session = Session(shown_as, i + 1, home)
        above = i - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        if above in comments:
            head, _, rest = comments[above].partition("\n")
            if head.strip().startswith("not run:"):
                session.not_run = head.strip().removeprefix("not run:").strip()
            session.setup = _expand(rest.splitlines(), defined)
        i += 1
        while not lines[i].strip().startswith("```"):
            line = lines[i][indent:]
            if line.startswith("$ "):
                session.steps.append((line[2:], []))
            elif session.steps:
                session.steps[-1][1].append(line)
            i += 1
        found.append(session)
        i += 1
    return found


def _expand(lines: list[str], defined: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for line in lines:
        words = line.split()
        if words[:1] == ["use"]:
            out += defined[words[1]]
        elif line.strip():
            out.append(line)
    return out


# The placeholders: each value of a kind that differs from run to run (a size, a time,
# a hash, a pid, a Python version, a date) stands for any value of its kind, on both
# sides; columns padded to line up compare with any padding.
_PLACEHOLDERS = [
    (re.compile(r"\b\d+(?:\.\d+)? (?:B|KiB|MiB|GiB)\b"), "<SIZE>"),
    (re.compile(r"\b\d+(?:\.\d+)?m?s\b"), "<TIME>"),
    (re.compile(r"\b(\w+)-[0-9a-f]{10}\b"), r"\1-<HASH>"),
    (re.compile(r"\bpid \d+"), "pid <PID>"),
    (re.compile(r"\b3\.\d+\.\d+\b"), "<PYTHON>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "<DATE>"),
    (re.compile(r'("(?:size|freed|last_launched|last_synced)": )[0-9.e+]+'), r"\1<N>"),
    (re.compile(r'("interpreter": )"[^"]*"'), r'\1"<PATH>"'),  # where this machine's is
    (re.compile(r"\bjust now\b|\b\d+[mh] ago\b"), "<RECENT>"),  # a day or more: as shown
    (re.compile(r"(\S)  +"), r"\1  "),
]


def normalize(line: str) -> str:
    """``line`` with every value that differs from run to run replaced by its placeholder."""
    line = line.rstrip()
    for pattern, placeholder in _PLACEHOLDERS:
        line = pattern.sub(placeholder, line)
    return line


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``expected``, placeholders aside; a line ``...`` (any
    indentation) stands for any number of lines."""
    want = [normalize(x) for x in expected]
    got = [normalize(x) for x in actual]
    return _match(want, got)


def _match(want: list[str], got: list[str]) -> bool:
    if not want:
        return not got
    if want[0].strip() == "...":
        return any(_match(want[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and want[0] == got[0] and _match(want[1:], got[1:])
