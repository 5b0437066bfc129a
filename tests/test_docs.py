"""Docs that cannot drift: the example sessions run, and the names the docs cite exist.

Each ``console`` block of README.md and docs/*.md runs in a sandbox of its own (the
real uvlaunch and uv, offline, the suite's tiny wheels), its scene set by the hidden
lines above it (tests/docsession.py), and what each command prints must be what the
block shows, placeholders aside (docs/architecture.md, "Docs that run").
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import Sandbox
from docsession import Session, matches, normalize, sessions

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
EXAMPLES = REPO / "examples"
ALL = [s for doc in DOCS for s in sessions(doc, str(doc.relative_to(REPO)))]

# Shell functions the hidden lines may use (besides uvlaunch, uv and coreutils).
HELPERS = r"""
set -e
# mkscript NAME [DEP...]: an executable script in the current directory that prints its
# name (examples/NAME when there is one).
mkscript() {
    local name=$1; shift
    if [ -f "$EXAMPLES/$name" ]; then cp "$EXAMPLES/$name" "$name"; else
        local deps=""; for d in "$@"; do deps="$deps${deps:+, }\"$d\""; done
        printf '#!/usr/bin/env -S uvlaunch\n# /// script\n# requires-python = ">=3.10"\n' > "$name"
        printf '# dependencies = [%s]\n# ///\nprint("%s ran")\n' "$deps" "$name" >> "$name"
    fi
    chmod +x "$name"
}
# env_of SCRIPT: the environment directory of SCRIPT (envs/NAME).
env_of() { dirname "$(uvlaunch where "$1")"; }
# volume DIR: a tmpfs mounted at DIR (a USB drive); without root, the session is skipped.
volume() {
    mkdir -p "$1"
    [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=4m tmpfs "$1" 2>/dev/null || exit 77
}
"""
SKIP = 77  # the scene cannot be set here (as automake's tests say it)


def test_there_are_sessions_and_few_are_not_run() -> None:
    assert len(ALL) >= 30
    not_run = [s.id for s in ALL if s.not_run]
    assert len(not_run) <= 9, not_run  # the short list: each says why it cannot run


def _world(sandbox: Sandbox) -> tuple[dict[str, str], Path]:
    """The user of the examples: HOME, its uvlaunch home and bin directory, ~/scripts."""
    home = sandbox.root / "home"
    scripts = home / "scripts"
    scripts.mkdir(parents=True)
    env = dict(sandbox.env)
    env.update(
        HOME=str(home),
        UVLAUNCH_HOME=str(home / ".local/share/uvlaunch"),
        PATH=os.pathsep.join([str(home / ".local/bin"), env["PATH"]]),
        EXAMPLES=str(EXAMPLES),
        COLUMNS="200",
        DEMO=str(sandbox.root),  # shown as /tmp/demo
    )
    return env, scripts


def _named(command: str, env: dict[str, str]) -> str:
    """``command`` with each environment name (``report-7676eda368``) the one of that
    stem in this home: a name's hash is of the script's path, which is the sandbox's."""
    envs = Path(env["UVLAUNCH_HOME"]) / "envs"
    present = sorted(p.name for p in envs.iterdir()) if envs.is_dir() else []

    def actual(m: re.Match[str]) -> str:
        found = [n for n in present if n.rsplit("-", 1)[0] == m.group(1)]
        return found[0] if len(found) == 1 else m.group(0)

    return re.sub(r"\b(\w+)-[0-9a-f]{10}\b", actual, command)


def _shown(text: str, session: Session, root: Path) -> list[str]:
    # The sandbox's paths as the docs show them: the home, then the rest of its root.
    text = text.replace(str(root / "home"), session.home)
    return text.replace(str(root), "/tmp/demo").splitlines()


@pytest.mark.parametrize("session", [s for s in ALL], ids=[s.id for s in ALL])
def test_example_session(sandbox: Sandbox, session: Session) -> None:
    if session.not_run:
        pytest.skip(f"not run: {session.not_run}")
    env, scripts = _world(sandbox)
    for line in session.setup:  # `export NAME=VALUE`: for the commands too
        if line.startswith("export ") and "=" in line:
            name, _, value = line.removeprefix("export ").partition("=")
            env[name.strip()] = value.strip()
    if session.setup:
        setup = HELPERS + "\n".join(session.setup)
        proc = subprocess.run(
            ["bash", "-c", setup], cwd=scripts, env=env, capture_output=True, text=True
        )
        if proc.returncode == SKIP:
            pytest.skip(f"{session.id}: its scene needs root (a tmpfs to unmount)")
        assert proc.returncode == 0, f"{session.id}: the scene\n{proc.stdout}{proc.stderr}"
    for command, expected in session.steps:
        proc = subprocess.run(
            ["bash", "-c", HELPERS.replace("set -e", "") + _named(command, env)],
            cwd=scripts,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
        actual = _shown(proc.stdout, session, sandbox.root)
        assert matches(expected, actual), (
            f"{session.id}: $ {command}\n--- the docs show\n"
            + "\n".join(normalize(x) for x in expected)
            + "\n--- it printed\n"
            + "\n".join(normalize(x) for x in actual)
        )


# -- the names the docs cite ------------------------------------------------------------

PACKAGE = REPO / "src" / "uvlaunch"
_TICKED = re.compile(r"`([A-Za-z_][\w./-]*)`")
_FILE = re.compile(r"(?<![\w./-])((?:[\w-]+/)*\w+\.py)\b(?!\.)")
_ATTR = re.compile(r"(?<![\w.])([a-z_]+)\.([A-Za-z_]\w*)\b(?![.(]?\w*\.py)")
_FENCED = re.compile(r"^ *```.*?^ *```", re.S | re.M)


def _modules() -> dict[str, list[Path]]:
    """uvlaunch's modules by file name (``envbuild.py``) and by stem (``envbuild``)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found.setdefault(path.name, []).append(path)
        found.setdefault(path.stem, []).append(path)
    return found


def _defined(paths: list[Path], attr: str) -> bool:
    """Whether one of the modules defines ``attr``: a function, a class, an assignment."""
    pattern = re.compile(
        rf"^\s*(?:(?:async )?def {attr}\b|class {attr}\b|{attr}\s*[:=]|self\.{attr}\s*[:=])", re.M
    )
    return any(pattern.search(p.read_text(encoding="utf-8")) for p in paths)


def _prose(path: Path) -> str:
    """What in a source file is read, not run: its comments and strings."""
    import tokenize

    with path.open("rb") as f:
        tokens = tokenize.tokenize(f.readline)
        return "\n".join(t.string for t in tokens if t.type in (tokenize.COMMENT, tokenize.STRING))


def _citations() -> list[tuple[str, str]]:
    """(where, cited name): backticked names in the docs; names in src's comments and strings."""
    cited = []
    examples = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        # A file name an example session shows is the reader's file, not uvlaunch's.
        examples.update(re.findall(r"[\w-]+\.py\b", "\n".join(_FENCED.findall(text))))
        where = str(doc.relative_to(REPO))
        cited += [(where, w) for w in _TICKED.findall(_FENCED.sub("", text))]
    for path in sorted(PACKAGE.rglob("*.py")):
        prose = _prose(path)
        where = str(path.relative_to(REPO))
        cited += [(where, w) for w in _FILE.findall(prose)]
        # module.NAME: a constant or a private name; module.name only in backticks (a
        # parameter called `script` has a `script.path`).
        cited += [(where, f"{m}.{a}") for m, a in _ATTR.findall(prose) if not a.islower()]
        cited += [(where, w) for w in _TICKED.findall(prose) if "." in w]
    return [(where, w) for where, w in cited if w not in examples | PROSE_EXAMPLES]


# Files of the reader's that the docs name in prose only (reliability.md's two scripts).
PROSE_EXAMPLES = {"a.py", "b.py", "current/job.py", "s.py"}


_EXTENSIONS = ("py", "c", "md", "json", "lock")  # `script.py.lock`, `launcher.c`: files


@functools.cache
def _repo_files() -> tuple[str, ...]:
    """The repository's files, relative ("src/uvlaunch/uv/output.py"), .venv and caches aside."""
    skip = {".venv", ".git", "__pycache__", "build", ".venv-floor"}
    found = []
    for top, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in skip and not d.endswith(".egg-info")]
        found += [os.path.relpath(os.path.join(top, f), REPO) for f in files]
    return tuple(found)


def _exists(word: str, modules: dict[str, list[Path]]) -> bool:
    if word.endswith(".py"):
        if any(c.isupper() for c in word):
            return True  # a pattern of a file in the home (`piped/url-KEY.py`), no module
        if word in modules or (REPO / word).exists():
            return True
        return any(f == word or f.endswith("/" + word) for f in _repo_files())
    module, _, attr = word.partition(".")
    if module not in modules or not attr or "." in attr or attr in _EXTENSIONS:
        return True  # not a name of uvlaunch's module: nothing to check
    # `generations.build/flip/prune`: several names of one module.
    return all(_defined(modules[module], a.rstrip("()")) for a in attr.split("/"))


def stale_citations() -> list[str]:
    """Every module file or ``module.name`` the docs or the source cite that does not exist."""
    modules = _modules()
    return sorted({f"{where}: {w}" for where, w in _citations() if not _exists(w, modules)})


def test_cited_modules_and_names_exist() -> None:
    assert stale_citations() == []


def test_the_citation_check_knows_a_stale_name() -> None:
    modules = _modules()
    assert _exists("envbuild.ensure", modules) and _exists("building/envbuild.py", modules)
    assert _exists("generations.build/flip", modules)
    for stale in ("envbuild._explain", "launch.SPECULATE", "uv.py", "uvoutput.py", "venv.x/usage"):
        assert not _exists(stale, modules), stale


def test_the_warm_record_is_described_as_it_is() -> None:
    """Its magic and its number of fields, wherever the docs give them (contract.py)."""
    from uvlaunch import contract

    numbers = "zero one two three four five six seven eight nine ten eleven twelve thirteen"
    count = numbers.split()[len(contract.WARM_FIELDS)]
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for magic in re.findall(r"uvlaunch-warm-\d+", text):
            assert magic == contract.WARM_MAGIC, doc
        for said in re.findall(r"warm\b[^.]*?\b([a-z]+) (?:NUL-terminated )?fields", text, re.S):
            assert said == count, (doc, said)
