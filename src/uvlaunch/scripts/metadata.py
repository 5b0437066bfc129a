"""The script's ``# /// script`` block (PEP 723), read exactly the way uv reads it.

uv is what installs from the block, so its reading is the one that counts, not the
PEP's reference regular expression. The rules, as uv 0.13.9 applies them (checked
against uv itself by tests/test_metadata.py):

1. Only the first occurrence of the text ``# /// script`` in the file matters. If it
   does not start a line (first character of the file, or right after ``\\n`` or
   ``\\r``), there is no block, even if a proper block comes later. A BOM right
   before it counts as text, so ``\\ufeff# /// script`` on the first line is no block.
2. Lines end at ``\\n``; one ``\\r`` before the ``\\n`` is dropped (CRLF files work).
   A ``\\r`` without a ``\\n`` after it is ordinary text.
3. The opening line must be exactly ``# /// script``; otherwise there is no block
   (``# /// script x``, ``# /// scripts``, a trailing space). Indented and space-less
   markers (`` # /// script``, ``#/// script``) are not the text, so they are no block.
4. The block is the run of comment lines after the opening line: ``#`` alone, or ``#``
   followed by a space. The first other line ends the run. Content is each line without
   its ``# `` (or ``#``).
5. The last line of the run that is exactly ``# ///`` closes the block; lines after it
   are ignored (so ``#`` lines after the closer are harmless, and a second ``# ///`` in
   the same run becomes the closer, putting the first one into the TOML). No such line
   is an error: unclosed, or "trailing content" when a ``# ///...`` line was meant.
6. A second ``# /// script`` line after the closer is an error when its block is closed:
   a ``# ///`` line that is the last line of its comment run. An unclosed one is ignored,
   and so is a ``# /// script`` line inside a block of another type (``# /// pyproject``),
   whose lines are skipped. Other-type blocks are otherwise ignored.
7. A file that is not valid UTF-8 is an error only once rule 1 found a marker at a line
   start; without one, uv sees no block.

``find_block`` runs on every warm start, so this module imports nothing at load time
beyond what it has to: no ``re`` (4.5 ms here), ``dataclasses``, ``typing`` or
``tomllib``; ``parse`` imports what it needs lazily.
"""

from __future__ import annotations

from uvlaunch.errors import ScriptError, printable

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: this module is on the fast path

if TYPE_CHECKING:
    import re

OPENING = "# /// script"
CLOSING = "# ///"
_TYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


class MetadataError(ScriptError):
    """The script's metadata block is malformed."""


shown = printable  # a path fit for a one-line message: control characters escaped

MAX_SCRIPT = 64 * 1024 * 1024  # the most of a script uvlaunch reads (docs/commands.md)


def read_text(path: str, display: str | None = None) -> str:
    """The script's text; raises ScriptError naming the script when it cannot be read.

    Bytes that are not UTF-8 are kept as surrogate escapes rather than refused: uv
    refuses them only in a file with a block (``find_block`` does the same), and runs
    a file without one (a Latin-1 script with a coding cookie) as it is.
    """
    name = shown(path if display is None else display)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SCRIPT + 1)
    except IsADirectoryError:
        raise ScriptError(f"{name}: is a directory, not a script") from None
    except FileNotFoundError:
        raise ScriptError(f"{name}: no such file") from None
    except PermissionError:
        raise ScriptError(f"{name}: permission denied (cannot read the script)") from None
    except OSError as e:
        raise ScriptError(f"{name}: cannot read the script: {e.strerror}") from None
    return decode(data, name)


def decode(data: bytes, name: str) -> str:
    """A script's bytes as text (see ``read_text``); ScriptError when over ``MAX_SCRIPT``."""
    if len(data) > MAX_SCRIPT:
        raise ScriptError(
            f"{name}: is more than {MAX_SCRIPT >> 20} MiB; uvlaunch reads scripts of at most "
            f"{MAX_SCRIPT >> 20} MiB"
        )
    return data.decode("utf-8", "surrogateescape")


def find_block(text: str, path: str = "<script>") -> str | None:
    """The TOML inside the script block, or None when uv would see no block.

    Each line of the block loses its ``# `` (or ``#``); the lines are joined with
    ``\\n`` and end with ``\\n``, as uv passes them to its TOML parser. Raises
    MetadataError for an unclosed block, a closer with trailing content, a second
    script block, or bytes that are not UTF-8 in a file with a block.
    """
    start = text.find(OPENING)
    if start < 0 or (start > 0 and text[start - 1] not in "\r\n"):
        return None
    _check_utf8(text, path)
    eol = text.find("\n", start)
    first = text[start:] if eol < 0 else text[start:eol]
    if first != OPENING and not (eol >= 0 and first == OPENING + "\r"):
        return None
    toml: list[str] = []
    closer = -1  # index in toml of the last `# ///` line
    closer_end = len(text)  # offset just past that line
    while eol >= 0 and eol + 1 < len(text):
        line_start = eol + 1
        eol = text.find("\n", line_start)
        if eol < 0:
            line = text[line_start:]
        else:
            line = text[line_start:eol]
            if line.endswith("\r"):
                line = line[:-1]
        if line == "#":
            toml.append("")
        elif line.startswith("# "):
            if line == CLOSING:
                closer = len(toml)
                closer_end = len(text) if eol < 0 else eol + 1
            toml.append(line[2:])
        else:
            break
    if closer < 0:
        if any(line.startswith("///") for line in toml):
            raise MetadataError(
                f"{shown(path)}: the `# /// script` block's closing line has trailing content;"
                " it must be exactly `# ///`"
            )
        raise MetadataError(
            f"{shown(path)}: the `# /// script` block is never closed by a `# ///` line"
            " (every line up to it must start with `#`)"
        )
    if text.find(OPENING, closer_end) >= 0 and _has_second_block(text[closer_end:]):
        raise MetadataError(f"{shown(path)}: has two `# /// script` metadata blocks; keep one")
    return "\n".join(toml[:closer]) + "\n"


def _check_utf8(text: str, path: str) -> None:
    # read_text keeps bytes that are not UTF-8 as lone surrogates; encoding finds them.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        offset = len(text[: e.start].encode("utf-8", "surrogateescape"))
        raise MetadataError(
            f"{shown(path)}: not valid UTF-8 (byte {offset}); PEP 723 scripts must be UTF-8"
        ) from None


def _lines(text: str) -> list[str]:
    # Rust's str::lines(): split at \n, drop one \r before each \n, no empty last line.
    parts = text.split("\n")
    last = parts.pop()
    lines = [p[:-1] if p.endswith("\r") else p for p in parts]
    if last:
        lines.append(last)
    return lines


def _is_comment(line: str) -> bool:
    return line.startswith("#") and (len(line) == 1 or line[1] == " ")


def _has_second_block(rest: str) -> bool:
    """Whether ``rest`` (the text after the closing line) holds another closed script block.

    uv's scan: a line ``# /// TYPE`` (TYPE of ASCII letters, digits, ``-``) starts a
    block that takes the comment lines after it; the block is closed by a ``# ///``
    line not followed by another comment line. Lines a block took are not scanned.
    """
    lines = _lines(rest)
    n = len(lines)
    i = 0
    while i < n:
        line = lines[i]
        i += 1
        if not line.startswith("# /// "):
            continue
        kind = line[6:]
        if not kind or not _TYPE_CHARS.issuperset(kind):
            continue
        closed = False
        while i < n:
            line = lines[i]
            i += 1
            if not _is_comment(line):
                break
            if line == CLOSING and (i >= n or not _is_comment(lines[i])):
                closed = True
                break
        if closed and kind == "script":
            return True
    return False


class ScriptMetadata:
    """What the block says: the raw TOML text, dependencies and requires-python."""

    # A plain class: dataclasses imports re and inspect, and this module is on the fast path.
    __slots__ = ("block", "dependencies", "requires_python")

    def __init__(
        self, *, block: str | None, dependencies: tuple[str, ...], requires_python: str | None
    ) -> None:
        self.block = block
        self.dependencies = dependencies
        self.requires_python = requires_python


def _first_line(message: str) -> str:
    return message.strip().split("\n", 1)[0]


def parse(text: str, path: str) -> ScriptMetadata:
    """Find and validate the block of ``text`` (the contents of ``path``).

    Checks what uv checks before installing: valid TOML, ``dependencies`` a list of
    PEP 508 requirement strings, ``requires-python`` a version specifier string.
    """
    block = find_block(text, path)
    if block is None:
        return ScriptMetadata(block=None, dependencies=(), requires_python=None)
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    name = shown(path)
    try:
        data = tomllib.loads(block)
    except tomllib.TOMLDecodeError as e:
        raise MetadataError(
            f"{name}: the `# /// script` block is not valid TOML: {_first_line(str(e))}"
        ) from None
    deps = data.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise MetadataError(f"{name}: `dependencies` in the script block must be a list of strings")
    doubtful = [d for d in deps if not plainly_valid(d, requirement=True)]
    if doubtful:
        from packaging.requirements import InvalidRequirement, Requirement

        for dep in doubtful:
            try:
                Requirement(dep)
            except InvalidRequirement as e:
                raise MetadataError(
                    f"{name}: the dependency {dep!r} in the script block is not a valid"
                    f" requirement: {_first_line(str(e))}"
                ) from None
    requires = data.get("requires-python")
    if requires is not None and not isinstance(requires, str):
        raise MetadataError(f"{name}: `requires-python` in the script block must be a string")
    if requires is not None and not plainly_valid(requires, requirement=False):
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(requires)
        except InvalidSpecifier:
            raise MetadataError(
                f"{name}: `requires-python = {requires!r}` is not a valid version specifier"
            ) from None
    return ScriptMetadata(block=block, dependencies=tuple(deps), requires_python=requires)


# The blocks people write (``"pandas"``, ``"rich>=13"``, ``">=3.10"``) are checked here;
# anything else by packaging, whose import costs 20 to 40 ms of every first launch and
# block edit (its grammar compiles its regular expressions at import). What this
# accepts, packaging accepts too (tests/test_metadata.py checks it on generated strings).
_PLAIN: dict[bool, re.Pattern[str]] = {}


def plainly_valid(text: str, *, requirement: bool) -> bool:
    """Whether ``text`` is a PEP 508 requirement of the plainest kind (a name, then
    version clauses of digits and dots), or with ``requirement`` False, such a
    specifier set; False means "ask packaging", not "invalid"."""
    pattern = _PLAIN.get(requirement)
    if pattern is None:
        import re  # tomllib has imported it already

        version = r"[0-9]+(?:\.[0-9]+)*"
        clause = rf"[ \t]*(?:(?:==|!=|<=|>=|<|>)[ \t]*{version}|~=[ \t]*[0-9]+(?:\.[0-9]+)+)[ \t]*"
        clauses = rf"{clause}(?:,{clause})*"
        name = r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*"
        pattern = re.compile(rf"[ \t]*{name}[ \t]*(?:{clauses})?" if requirement else clauses)
        _PLAIN[requirement] = pattern
    return pattern.fullmatch(text) is not None
