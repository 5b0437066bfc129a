"""The `# /// script` reader agrees with uv, which is what installs from the block.

Every example is checked twice: against the verdict written here, and against uv's own
(``uv export --script``, offline against the local wheels, which prints the
requirements uv read, says "does not contain a PEP 723 metadata tag" when it sees no
block, and fails on a malformed one). A property-based test then generates files
from the pieces the examples use and compares the reader with uv on each.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASE_PYTHON, UV, isolated_env
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from uvlaunch.errors import ScriptError
from uvlaunch.scripts.metadata import MetadataError, ScriptMetadata, find_block, parse, read_text

# A verdict: ("none",), ("error",) or ("deps", "alpha,beta") (sorted canonical names).
Verdict = tuple[str, ...]
NONE: Verdict = ("none",)
ERROR: Verdict = ("error",)


def deps(*names: str) -> Verdict:
    return ("deps", ",".join(sorted(set(names))))


# Print just the requirements, one per line; uv's own errors still go to stderr.
EXPORT_FLAGS = ("--quiet", "--no-header", "--no-annotate", "--no-hashes")


class UvReader:
    """Runs the real uv on a file and reports what it read from the block."""

    def __init__(self, root: Path, wheelhouse: Path) -> None:
        self.env = isolated_env(root, wheelhouse)
        self.env["UV_PYTHON"] = BASE_PYTHON
        self.dir = root / "scripts"
        self.dir.mkdir()
        self.path = self.dir / "script.py"

    def verdict(self, data: bytes) -> tuple[Verdict, str]:
        self.path.write_bytes(data)
        proc = subprocess.run(
            [UV, "export", "--script", str(self.path), *EXPORT_FLAGS],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode == 0:
            names = []
            for line in proc.stdout.splitlines():
                line = line.split(";")[0].strip()
                if line and not line.startswith("#"):
                    names.append(str(canonicalize_name(line.split("==")[0])))
            return deps(*names), proc.stdout
        if "does not contain a PEP 723 metadata tag" in proc.stderr:
            return NONE, proc.stderr
        return ERROR, proc.stderr

    def ours(self, data: bytes) -> tuple[Verdict, str]:
        """What uvlaunch's reader makes of the same bytes (read back from the same file)."""
        self.path.write_bytes(data)
        path = str(self.path)
        try:
            meta = parse(read_text(path), path)
        except MetadataError as e:
            message = str(e)
            assert "\n" not in message and message.startswith(path + ": "), message
            return ERROR, message
        if meta.block is None:
            return NONE, ""
        names = (str(canonicalize_name(Requirement(d).name)) for d in meta.dependencies)
        return deps(*names), repr(meta.block)


@pytest.fixture(scope="module")
def uv_reader(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> UvReader:
    return UvReader(tmp_path_factory.mktemp("uv-reader"), wheelhouse)


def check(uv_reader: UvReader, text: str | bytes, expected: Verdict) -> None:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    got, detail = uv_reader.ours(data)
    assert got == expected, f"uvlaunch read {got}, expected {expected}: {detail}\n{data!r}"
    said, detail = uv_reader.verdict(data)
    assert said == expected, f"uv read {said}, expected {expected}: {detail}\n{data!r}"


A = '# /// script\n# dependencies = ["alpha"]\n# ///\n'
B = '# /// script\n# dependencies = ["beta"]\n# ///\n'
OPEN_A = '# /// script\n# dependencies = ["alpha"]\n'
PYPROJECT = "# /// pyproject\n# [run]\n# x = 1\n# ///\n"

CASES: list[tuple[str, str | bytes, Verdict]] = [
    ("plain", A + "print(1)\n", deps("alpha")),
    ("no block", "print(1)\n", NONE),
    ("empty file", "", NONE),
    ("after a shebang", "#!/usr/bin/env -S uvlaunch\n" + A, deps("alpha")),
    ("after a docstring", '"""Do things."""\n' + A, deps("alpha")),
    ("after a long docstring", '"""\nDo things.\n"""\n\nimport os\n' + A, deps("alpha")),
    ("comments around", "# hello\n#\n#x\n" + A + "# bye\n#\n", deps("alpha")),
    ("empty # lines inside",
     '# /// script\n#\n# dependencies = [\n#\n#   "alpha",\n#\n# ]\n#\n# ///\n', deps("alpha")),
    ("crlf", (A + "print(1)\n").replace("\n", "\r\n"), deps("alpha")),
    ("crlf, no final newline", A.replace("\n", "\r\n")[:-2], deps("alpha")),
    ("no final newline", A[:-1], deps("alpha")),
    ("mixed endings", '# /// script\r\n# dependencies = ["alpha"]\n# ///\r\n', deps("alpha")),
    ("bare cr before the marker", "x = 1\r" + A, deps("alpha")),
    ("closer ends in a bare cr", A[:-1] + "\r", ERROR),
    ("opener ends in a bare cr", "# /// script\r", NONE),
    ("bom before the marker", "\ufeff" + A, NONE),
    ("bom before a shebang", "\ufeff#!/usr/bin/env python3\n" + A, deps("alpha")),
    ("indented marker", " " + A, NONE),
    ("indented marker, real block later", " " + A + "x = 1\n" + B, NONE),
    ("space-less marker", "#" + A[2:], NONE),
    ("space-less marker, real block later", "#" + A[2:] + B, deps("beta")),
    ("marker with trailing text", A.replace("script", "script x"), NONE),
    ("marker `scripts`", A.replace("script", "scripts"), NONE),
    ("marker `scripts`, real block later", A.replace("script", "scripts") + "x = 1\n" + B, NONE),
    ("marker with a trailing space", A.replace("script", "script "), NONE),
    ("marker after `#`", "#" + A, NONE),
    ("closer with trailing text", OPEN_A + "# /// end\n", ERROR),
    ("closer with a trailing space", OPEN_A + "# /// \n", ERROR),
    ("closer `# ////`", OPEN_A + "# ////\n", ERROR),
    ("closer `#///`", OPEN_A + "#///\n", ERROR),
    ("closer with trailing text, closer after code", OPEN_A + "# /// x\nx = 1\n# ///\n", ERROR),
    ("closer followed by # lines", A + "#\n# more words\n#\n", deps("alpha")),
    ("closer followed by # /// x", A + "# /// x\n", deps("alpha")),
    ("closer followed by a second closer", A + "#\n# ///\n", ERROR),
    ("second closer ends in a bare cr", A + "#\n# ///\r", deps("alpha")),
    ("unclosed", OPEN_A, ERROR),
    ("unclosed by a blank line", OPEN_A + "\n# ///\n", ERROR),
    ("unclosed by `#x`", OPEN_A + "#x\n# ///\n", ERROR),
    ("opener alone at the end", "x = 1\n# /// script", ERROR),
    ("two script blocks", A + "\nx = 1\n" + B, ERROR),
    ("two script blocks, crlf", (A + "\n" + B).replace("\n", "\r\n"), ERROR),
    ("two script blocks, adjacent", A + B, ERROR),
    ("second block in a docstring", A + '"""\n' + B + '"""\n', ERROR),
    ("second block unclosed", A + "x = 1\n" + OPEN_A, deps("alpha")),
    ("second block with # lines after", A + "x = 1\n" + B + "#\n", deps("alpha")),
    ("second block inside another type", A + "x = 1\n# /// other\n" + B + "x = 2\n", deps("alpha")),
    ("second block, indented", A + "x = 1\n " + B, deps("alpha")),
    ("second marker with trailing text", A + "x = 1\n# /// script x\n# ///\n", deps("alpha")),
    ("pyproject block before", PYPROJECT + "\n" + A, deps("alpha")),
    ("pyproject block adjacent before", PYPROJECT + A, deps("alpha")),
    ("pyproject block after", A + "\n" + PYPROJECT, deps("alpha")),
    ("pyproject block adjacent after", A + PYPROJECT, ERROR),
    ("pyproject block then a script block", A + "x = 1\n" + PYPROJECT + "x = 2\n" + B, ERROR),
    ("marker in a string first", 'x = "# /// script"\n' + A, NONE),
    ("marker after code first", "x = 1  # /// script\n" + A, NONE),
    ("marker alone in a docstring first", '"""\n# /// script\n"""\n' + A, ERROR),
    ("empty block", "# /// script\n# ///\n", deps()),
    ("no dependencies key", '# /// script\n# requires-python = ">=3.8"\n# ///\n', deps()),
    ("tab after #", '# /// script\n#\tdependencies = ["alpha"]\n# ///\n', ERROR),
    ("invalid toml", '# /// script\n# dependencies = [\n# ///\n', ERROR),
    ("dependencies not a list", '# /// script\n# dependencies = "alpha"\n# ///\n', ERROR),
    ("dependency not a string", "# /// script\n# dependencies = [1]\n# ///\n", ERROR),
    ("invalid requirement", '# /// script\n# dependencies = ["alpha beta"]\n# ///\n', ERROR),
    ("empty requirement", '# /// script\n# dependencies = [""]\n# ///\n', ERROR),
    ("requirements with specifiers",
     '# /// script\n# dependencies = ["Alpha>=1,<3", "beta==1.0"]\n# ///\n', deps("alpha", "beta")),
    ("invalid requires-python", '# /// script\n# requires-python = "3.11"\n# ///\n', ERROR),
    ("requires-python not a string", "# /// script\n# requires-python = 3\n# ///\n", ERROR),
    ("not UTF-8, no block", b"# -*- coding: latin-1 -*-\nx = '\xe9'\n", NONE),
    ("not UTF-8, after the block", A.encode() + b"x = '\xe9'\n", ERROR),
    ("not UTF-8, before an indented marker", b"x = '\xe9'\n " + A.encode(), NONE),
    ("not UTF-8, before a marker with trailing text", b"x = '\xe9'\n# /// script x\n", ERROR),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reader_and_uv_agree_on(uv_reader: UvReader, text: str | bytes, expected: Verdict) -> None:
    check(uv_reader, text, expected)


# What find_block hands to the TOML parser, exactly.
BLOCKS: list[tuple[str, str]] = [
    (A, 'dependencies = ["alpha"]\n'),
    (A.replace("\n", "\r\n"), 'dependencies = ["alpha"]\n'),
    ("# /// script\n#\n#   x = 1\n#\n# ///\n#\n# y\n", "\n  x = 1\n\n"),
    ("# /// script\n# ///\n", "\n"),
    ("# /// script\n# a = '''\n# ///\n# '''\n# ///\n", "a = '''\n///\n'''\n"),
    ("#!/bin/sh\n" + A[:-1], 'dependencies = ["alpha"]\n'),
]


@pytest.mark.parametrize(("text", "toml"), BLOCKS)
def test_block_content(text: str, toml: str) -> None:
    assert find_block(text, "s.py") == toml


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (OPEN_A, "never closed"),
        (OPEN_A + "# /// end\n", "trailing content"),
        (A + "\n" + B, "two `# /// script` metadata blocks"),
        ("# /// script\n# x = \n# ///\n", "not valid TOML"),
        (
            '# /// script\n# dependencies = ["a b"]\n# ///\n',
            "'a b' in the script block is not a valid",
        ),
        ("# /// script\n# dependencies = 1\n# ///\n", "must be a list of strings"),
        ('# /// script\n# requires-python = "3"\n# ///\n', "is not a valid version specifier"),
        ("# /// script\n# requires-python = 3\n# ///\n", "must be a string"),
        (A + "x = '\udce9'\n", "not valid UTF-8 (byte 51)"),
    ],
)
def test_errors_are_one_line_naming_the_file(text: str, words: str) -> None:
    with pytest.raises(MetadataError) as info:
        parse(text, "dir/my script.py")
    message = str(info.value)
    assert isinstance(info.value, ScriptError)
    assert message.startswith("dir/my script.py: ")
    assert "\n" not in message
    assert words in message


def test_a_path_with_a_newline_stays_on_one_line() -> None:
    with pytest.raises(MetadataError) as info:
        find_block(OPEN_A, "odd\nname.py")
    assert str(info.value).startswith("odd\\nname.py: ")
    assert "\n" not in str(info.value)


def test_parse_reports_what_the_block_says() -> None:
    text = '#!/usr/bin/env -S uvlaunch\n# /// script\n# requires-python = ">=3.10"\n'
    text += '# dependencies = [\n#   "alpha>=1",\n#   "beta",\n# ]\n# ///\nprint(1)\n'
    meta = parse(text, "s.py")
    assert isinstance(meta, ScriptMetadata)
    assert meta.dependencies == ("alpha>=1", "beta")
    assert meta.requires_python == ">=3.10"
    assert (
        meta.block == 'requires-python = ">=3.10"\ndependencies = [\n  "alpha>=1",\n  "beta",\n]\n'
    )
    none = parse("print(1)\n", "s.py")
    assert (none.block, none.dependencies, none.requires_python) == (None, (), None)


def test_read_text(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_bytes(b"x = '\xe9'\n")
    assert read_text(str(script)) == "x = '\udce9'\n"  # kept, as uv runs such a file
    with pytest.raises(ScriptError, match=r"^shown\.py: no such file$"):
        read_text(str(tmp_path / "missing.py"), display="shown.py")
    with pytest.raises(ScriptError, match="is a directory"):
        read_text(str(tmp_path))


def _python(code: str, *options: str) -> str:
    """What ``code`` prints, run by a new interpreter on this checkout's ``src``."""
    src = str(Path(__file__).resolve().parent.parent / "src")
    proc = subprocess.run(
        [sys.executable, *options, "-c", code],
        env={**os.environ, "PYTHONPATH": src},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def test_import_and_find_block_load_nothing_more() -> None:
    """The warm fast path imports this module and calls find_block on every start."""
    texts = [
        (A + PYPROJECT + "x = 1\n" + B).replace("\n", "\r\n"),  # a second block: an error
        A + "x = 1\n# /// other\n" + B + "\n" + OPEN_A,
        " " + A,
    ]
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from uvlaunch.scripts.metadata import MetadataError, find_block\n"
        f"for text in {texts!r}:\n"
        "    try:\n"
        "        find_block(text, 'x')\n"
        "    except MetadataError:\n"
        "        pass\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    loaded = set(_python(code, "-S").split())
    allowed = {"__future__", "uvlaunch", "uvlaunch.errors", "uvlaunch.scripts"}
    assert loaded <= allowed | {"uvlaunch.scripts.metadata"}, loaded


# ---------------------------------------------------------------------------------------
# Property: on generated files, uvlaunch's reader and uv reach the same verdict.

DEPENDENCIES = [
    "alpha",
    "beta",
    "Alpha",
    "alpha>=1",
    "alpha<3",
    "beta==1.0",
    "beta >= 1",
    "alpha; python_version >= '3'",
    "alpha beta",  # not a requirement: both refuse it
]
OPENERS = ["# /// script"] * 14 + [
    " # /// script",
    "#/// script",
    "# /// script x",
    "# /// scripts",
    "# /// script ",
    "## /// script",
]
CLOSERS = ["# ///"] * 14 + ["# /// x", "# ///  ", "#///", "# ////", " # ///", None]
COMMENTS = [
    "# a comment",
    "#",
    "# ",
    "#comment",
    "#\t",
    "## heading",
    "# ///",
    "# /// x",
    "# /// -",
]
CODE = [
    *["import sys", "x = 1", "    pass", "print('hi')"] * 3,
    'print("# /// script")',
    "x = 1  # /// script",
    "x = '\udce9'",  # a Latin-1 byte: not UTF-8
]
DOCSTRINGS = [
    *[['"""A script."""'], ['"""', "Usage: run it.", '"""']] * 2,
    ['"""', "# /// script", '"""'],
]
OTHER_TYPES = ["pyproject", "tool", "a-b", "-", "script x", "script-x"]


def comment(toml_line: str) -> str:
    return "# " + toml_line if toml_line else "#"


def sometimes(*weights_true_false: int) -> st.SearchStrategy[bool]:
    """True ``t`` times in ``t + f`` (hypothesis shrinks toward the first: the usual case)."""
    t, f = weights_true_false
    return st.sampled_from([True] * t + [False] * f if t >= f else [False] * f + [True] * t)


@st.composite
def script_block(draw: st.DrawFn) -> list[str]:
    toml: list[str] = []
    if draw(sometimes(1, 2)):
        toml.append(
            draw(st.sampled_from(['requires-python = ">=3.8"', "requires-python = '>=3.10'"]))
        )
    at_least = 0 if draw(sometimes(1, 5)) else 1
    chosen = draw(st.lists(st.sampled_from(DEPENDENCIES), min_size=at_least, max_size=3))
    layout = draw(st.sampled_from(["inline", "multiline", "inline", "multiline", "missing"]))
    if layout == "inline":
        toml.append("dependencies = [" + ", ".join(f'"{d}"' for d in chosen) + "]")
    elif layout == "multiline":
        toml += ["dependencies = [", *(f'  "{d}",' for d in chosen), "]"]
    lines = [comment(t) for t in toml]
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):  # empty `#` lines, or a run breaker
        filler = draw(st.sampled_from(["#"] * 6 + ["", "#x"]))
        lines.insert(draw(st.integers(0, len(lines))), filler)
    closer = draw(st.sampled_from(CLOSERS))
    tail = draw(st.sampled_from([[], [], [], ["#"], ["# more"], ["#", "# ///"], ["# /// x"]]))
    return [draw(st.sampled_from(OPENERS)), *lines, *([closer] if closer else []), *tail]


@st.composite
def other_block(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(OTHER_TYPES))
    body = draw(
        st.lists(st.sampled_from(["# [run]", "# x = 1", "#"] * 2 + ["# /// script"]), max_size=3)
    )
    closed = draw(sometimes(3, 1))
    return [f"# /// {kind}", *body, *(["# ///"] if closed else [])]


def piece() -> st.SearchStrategy[list[str]]:
    return st.one_of(
        st.lists(st.sampled_from(COMMENTS), min_size=1, max_size=2),
        st.just([""]),
        st.sampled_from(CODE).map(lambda line: [line]),
        other_block(),
        script_block(),
    )


@st.composite
def script_file(draw: st.DrawFn) -> bytes:
    lines: list[str] = []
    if draw(sometimes(1, 1)):
        lines.append("#!/usr/bin/env -S uvlaunch")
    if draw(sometimes(1, 2)):
        lines += draw(st.sampled_from(DOCSTRINGS))
    for chunk in draw(st.lists(piece(), max_size=3)):
        lines += chunk
    if draw(sometimes(5, 1)):
        lines += draw(script_block())
    for chunk in draw(st.lists(piece(), max_size=3)):
        lines += chunk
    endings = draw(st.sampled_from(["lf", "crlf", "lf", "crlf", "mixed"]))
    if endings == "mixed":
        choices = ["\n", "\r\n"] * 2 + ["\r"]
        ends = draw(st.lists(st.sampled_from(choices), min_size=len(lines), max_size=len(lines)))
    else:
        ends = ["\n" if endings == "lf" else "\r\n"] * len(lines)
    if lines and not draw(sometimes(4, 1)):
        ends[-1] = ""  # no final newline
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    if draw(sometimes(1, 9)):
        text = "\ufeff" + text
    return text.encode("utf-8", "surrogateescape")


EXAMPLES = int(os.environ.get("UVLAUNCH_METADATA_EXAMPLES", "300"))


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same files on every run: CI stays stable
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=script_file())
def test_reader_agrees_with_uv_on_generated_files(uv_reader: UvReader, data: bytes) -> None:
    said, uv_detail = uv_reader.verdict(data)
    got, our_detail = uv_reader.ours(data)
    event(f"uv: {said[0]}")
    assert got == said, f"\nfile: {data!r}\nuv: {said} {uv_detail}\nuvlaunch: {got} {our_detail}"


# ---------------------------------------------------------------------------------------
# The plain blocks are checked without packaging (metadata.plainly_valid): what that
# check accepts, packaging accepts; what it does not, packaging decides as before.

PLAIN_PARTS = st.lists(
    st.sampled_from(
        [
            "alpha",
            "Beta_2",
            "c.d-e",
            "9x",
            " ",
            "\t",
            ">=",
            "<=",
            "==",
            "!=",
            "~=",
            "<",
            ">",
            "1",
            "0",
            "10",
            ".",
            ",",
            "*",
            "[",
            "]",
            "x",
            ";",
            "-",
            "_",
            "==1.*",
            "3.10",
            "é",
            "٣",
        ]
    ),
    max_size=8,
).map("".join)


@given(text=PLAIN_PARTS)
@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
def test_what_the_plain_check_accepts_packaging_accepts(text: str) -> None:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    from uvlaunch.scripts.metadata import plainly_valid

    checks = [
        (True, "requirement", Requirement, InvalidRequirement),
        (False, "specifier", SpecifierSet, InvalidSpecifier),
    ]
    for requirement, what, make, invalid in checks:
        if plainly_valid(text, requirement=requirement):
            event(f"plain {what}")
            try:
                make(text)
            except invalid as e:
                raise AssertionError(f"{text!r} passed the plain {what} check: {e}") from None


@pytest.mark.parametrize(
    ("text", "requirement", "plain"),
    [
        ("pandas", True, True),
        ("rich>=13", True, True),
        ("numpy >= 1.26, <3", True, True),
        ("typer~=0.12", True, True),
        ("x~=1", True, False),  # packaging refuses it, and says so
        ("pandas[sql]", True, False),  # extras, markers, URLs: packaging's
        ("httpx; python_version < '3.12'", True, False),
        ("alpha beta", True, False),
        (">=3.10", False, True),
        (">=3.10,<3.14", False, True),
        ("==3.12.*", False, False),
        ("3.10", False, False),
    ],
)
def test_the_plain_check(text: str, requirement: bool, plain: bool) -> None:
    from uvlaunch.scripts.metadata import plainly_valid

    assert plainly_valid(text, requirement=requirement) is plain


def test_a_plain_block_is_parsed_without_packaging() -> None:
    code = (
        "import sys\n"
        "from uvlaunch.scripts.metadata import parse\n"
        'meta = parse(\'# /// script\\n# requires-python = ">=3.10"\\n'
        '# dependencies = ["pandas", "rich>=13"]\\n# ///\\n\', \'s.py\')\n'
        "print(meta.dependencies, [m for m in sys.modules if m.startswith('packaging')])\n"
    )
    assert _python(code) == "('pandas', 'rich>=13') []\n"


VERSIONS = st.lists(st.integers(0, 12), min_size=1, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)
CLAUSES = st.tuples(st.sampled_from(["==", "!=", "<=", ">=", "<", ">", "~="]), VERSIONS).map(
    "".join
)


@given(spec=st.lists(CLAUSES, min_size=1, max_size=3).map(",".join), version=VERSIONS)
@settings(max_examples=1500)
def test_requires_python_without_packaging_agrees_with_packaging(spec: str, version: str) -> None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import Version

    from uvlaunch.building.complete import plainly_admits

    try:
        expected = Version(version) in SpecifierSet(spec)
    except InvalidSpecifier:
        assert plainly_admits(spec, version) is None  # "~=3": packaging's to refuse
        return
    assert plainly_admits(spec, version) is expected


@pytest.mark.parametrize("version", ["3.13.0rc1", "3.14t", "3.12+local"])
def test_requires_python_of_an_unplain_version_is_packagings(version: str) -> None:
    from uvlaunch.building.complete import plainly_admits

    assert plainly_admits(">=3.10", version) is None
