"""How uv is found and called."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from uvlaunch.errors import UvError

# The oldest uv that accepts `sync --active --script` and then uses the given
# environment (0.5.x rejects the combination); checked by installing each release.
MIN_UV = "0.6.0"


def find_uv() -> str:
    """``UVLAUNCH_UV``, else the binary of the installed ``uv`` package, else ``uv`` on PATH."""
    override = os.environ.get("UVLAUNCH_UV")
    if override:
        path = shutil.which(override) if os.sep not in override else override
        if path is None or not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise UvError(f"{override}: UVLAUNCH_UV does not name an executable uv binary")
        return os.path.abspath(path)
    try:
        from uv import find_uv_bin

        return os.path.abspath(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise UvError(
            "uv was not found: install it with `pip install uv`, or set UVLAUNCH_UV to its path"
        )
    return os.path.abspath(found)


def version(uv: str) -> str:
    """The version of the uv binary at ``uv``, checked against MIN_UV."""
    from packaging.version import InvalidVersion, Version

    try:
        out = subprocess.run(
            [uv, "--version"], capture_output=True, text=True, check=False, timeout=60
        )
    except OSError as e:
        raise UvError(f"{uv}: cannot run uv: {e.strerror}") from None
    words = out.stdout.split()
    if out.returncode != 0 or len(words) < 2 or words[0] != "uv":
        raise UvError(
            f"{uv}: does not look like uv (`uv --version` printed {out.stdout.strip()!r})"
        )
    try:
        found = Version(words[1])
    except InvalidVersion:
        raise UvError(f"{uv}: cannot read uv's version from {out.stdout.strip()!r}") from None
    if found < Version(MIN_UV):
        raise UvError(
            f"{uv}: uv {found} is too old; uvlaunch needs uv {MIN_UV} or newer "
            "(`pip install -U uv`)"
        )
    return str(found)


def link_mode() -> str:
    """The link mode for uvlaunch's environments: never symlinks into uv's cache."""
    # Symlinked files would point into the cache that `uv cache clean` deletes; an
    # explicit --link-mode on the command line overrides the user's uv.toml.
    chosen = os.environ.get("UV_LINK_MODE", "")
    if chosen and chosen != "symlink":
        return chosen
    return "clone" if sys.platform == "darwin" else "hardlink"


def base_env(env: str) -> dict[str, str]:
    """The environment uv runs with when working on the managed environment ``env``."""
    child = dict(os.environ)
    child["VIRTUAL_ENV"] = env
    child.pop("CONDA_PREFIX", None)
    return child


def run_env(env: str) -> dict[str, str]:
    """The environment ``uv run --active`` starts with, to start a script in ``env``.

    Unlike ``base_env``, CONDA_PREFIX stays: ``uv run --active`` uses VIRTUAL_ENV
    anyway, and ``uv run --script`` passes CONDA_PREFIX on to the script (as the fast
    path does), so the script sees it whichever way it was started.
    """
    child = dict(os.environ)
    child["VIRTUAL_ENV"] = env
    return child


def verbosity_flags(quiet: int, verbose: int) -> list[str]:
    return ["-q"] * quiet + ["-v"] * verbose


def sync(
    uv: str, script: str, env: str, *, python: str | None, quiet: int, verbose: int, compile: bool
) -> int:
    """Run ``uv sync --active --script`` for ``script`` into ``env``; returns uv's status."""
    argv = [uv, "sync", "--active", "--script", script, "--link-mode", link_mode()]
    if compile:
        argv.append("--compile-bytecode")
    if python:
        argv += ["--python", python]
    argv += verbosity_flags(quiet, verbose)
    return _call(argv, env)


def create_empty(uv: str, env: str, *, quiet: int, verbose: int) -> int:
    """Create an environment with no packages (a script without a block)."""
    # `uv sync --script` refuses a file without a `# /// script` block.
    argv = [uv, "venv", env, "--quiet", "--link-mode", link_mode(), *verbosity_flags(0, verbose)]
    return _call(argv, env)


def find_python(uv: str, requires_python: str) -> str | None:
    """An installed interpreter satisfying ``requires_python``, or None (never downloads)."""
    try:
        out = subprocess.run(
            [uv, "python", "find", "--no-python-downloads", requires_python],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    path = out.stdout.strip()
    return path if out.returncode == 0 and path else None


def downloads_allowed() -> bool:
    """Whether uv may download a Python that no installed one satisfies."""
    value = os.environ.get("UV_PYTHON_DOWNLOADS", "automatic").lower()
    offline = os.environ.get("UV_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return value not in ("never", "manual") and not offline


def _call(argv: list[str], env: str) -> int:
    try:
        return subprocess.run(argv, env=base_env(env), check=False).returncode
    except OSError as e:
        raise UvError(f"{argv[0]}: cannot run uv: {e.strerror}") from None


def run_argv(uv: str, script: str, args: list[str], *, quiet: int, verbose: int) -> list[str]:
    """The command that starts ``script`` through ``uv run --active --script``."""
    return [uv, "run", *verbosity_flags(quiet, verbose), "--active", "--script", script, *args]
