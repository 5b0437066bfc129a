"""How uv is found and called.

uv runs as a child started with ``posix_spawn`` on POSIX (``subprocess`` costs 9 ms of
imports on every launch that needs uv) and ``subprocess`` elsewhere.
"""

from __future__ import annotations

import os
import sys

from uvlaunch.errors import UvError
from uvlaunch.home import paths
from uvlaunch.uv import linking
from uvlaunch.uv.spawn import Running, wait

# The oldest uv with which uvlaunch is fully right, found by running the test suite
# against each release (docs/how-it-works.md, "Which uv"): 0.5.x rejects `sync
# --active --script`; below 0.6.7 a dependency dropped from the block stays installed;
# below 0.12.14 `uv run` gives the script `bin/python3` as sys.executable and a failed
# resolution is uv's drawn report, not an `error:` line. CI runs the suite on this one.
MIN_UV = "0.12.14"


def find_uv() -> str:
    """``UVLAUNCH_UV``, else the binary of the installed ``uv`` package, else ``uv`` on PATH."""
    override = os.environ.get("UVLAUNCH_UV")
    if override:
        path = _which(override) if os.sep not in override else override
        if path is None or not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise UvError(f"{override}: UVLAUNCH_UV does not name an executable uv binary")
        return os.path.abspath(path)
    if sys.prefix != sys.base_prefix and sys.platform != "win32":
        # In a venv, the first place find_uv_bin() looks is the venv's own bin; looking
        # there directly spares importing the uv package and sysconfig.
        beside = os.path.join(sys.prefix, "bin", "uv")
        if os.path.isfile(beside):
            return os.path.abspath(beside)
    try:
        from uv import find_uv_bin

        return os.path.abspath(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = _which("uv")
    if found is None:
        raise UvError(
            "uv was not found: install it with `pip install uv`, or set UVLAUNCH_UV to its path"
        )
    return os.path.abspath(found)


def _which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


def version(uv: str) -> str:
    """The version of the uv binary at ``uv``, checked against MIN_UV."""
    import subprocess

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
    return check_version(uv, words[1], shown=out.stdout.strip())


def check_version(uv: str, text: str, *, shown: str) -> str:
    """``text`` as a uv version, checked against MIN_UV; ``shown`` is where it was read."""
    from packaging.version import InvalidVersion, Version

    try:
        found = Version(text)
    except InvalidVersion:
        raise UvError(f"{uv}: cannot read uv's version from {shown!r}") from None
    if found < Version(MIN_UV):
        raise UvError(
            f"{uv}: uv {found} is too old; uvlaunch needs uv {MIN_UV} or newer "
            "(`pip install -U uv`)"
        )
    return str(found)


def check_recorded(uv: str, recorded: str) -> str:
    """The version of ``uv``, which wrote ``recorded`` (pyvenv.cfg's): checked like ``version``.

    A first launch reads the version uv wrote into the environment rather than run
    ``uv --version`` (4 ms) and import packaging (8 ms); anything short of a plain
    version new enough (an odd string, a file read while uv was still writing it,
    which can only make it look older) is asked of uv itself.
    """
    parts = recorded.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        floor = tuple(int(p) for p in MIN_UV.split("."))
        if tuple(int(p) for p in parts) >= floor:
            return recorded
    return version(uv)


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


def sync_argv(uv: str, script: str, *, python: str | None, quiet: int, verbose: int) -> list[str]:
    """``uv sync --active --script`` for ``script`` (into the environment VIRTUAL_ENV names)."""
    # No --compile-bytecode: uvlaunch compiles the environment itself (bytecode.py).
    argv = [uv, "sync", "--active", "--script", script, "--link-mode", linking.link_mode()]
    if python:
        argv += ["--python", python]
    return argv + verbosity_flags(quiet, verbose)


def sync(uv: str, script: str, env: str, *, python: str | None, quiet: int, verbose: int) -> int:
    """Run ``uv sync --active --script`` for ``script`` into ``env``; returns uv's status."""
    return _call(sync_argv(uv, script, python=python, quiet=quiet, verbose=verbose), env)


def create_empty(uv: str, env: str, *, quiet: int, verbose: int) -> int:
    """Create an environment with no packages (a script without a block)."""
    # `uv sync --script` refuses a file without a `# /// script` block.
    argv = [
        uv,
        "venv",
        env,
        "--quiet",
        "--link-mode",
        linking.link_mode(),
        *verbosity_flags(0, verbose),
    ]
    return _call(argv, env)


def find_python(uv: str, requires_python: str) -> str | None:
    """An installed interpreter satisfying ``requires_python``, or None (never downloads)."""
    return look_for_python(uv, requires_python)[0]


def look_for_python(uv: str, requires_python: str) -> tuple[str | None, str]:
    """(an installed interpreter for ``requires_python`` or None, uv's words when none)."""
    import subprocess

    try:
        out = subprocess.run(
            [uv, "python", "find", "--no-python-downloads", requires_python],
            capture_output=True,
            text=True,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        )
    except OSError as e:
        return None, str(e.strerror)
    path = out.stdout.strip()
    if out.returncode == 0 and path:
        return path, ""
    return None, out.stderr


def downloads_allowed() -> bool:
    """Whether uv may download a Python that no installed one satisfies."""
    value = os.environ.get("UV_PYTHON_DOWNLOADS", "automatic").lower()
    offline = os.environ.get("UV_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return value not in ("never", "manual") and not offline


def _call(argv: list[str], env: str) -> int:
    return wait(start(argv, base_env(env), capture=False))


def start(argv: list[str], environ: dict[str, str], *, capture: bool) -> Running:
    """Start ``argv``; with ``capture``, its stderr comes to us (``relay`` shows it).

    Through a pseudo-terminal when our stderr is a terminal, else through a pipe: either
    way uv sees what it would see writing to our stderr itself.
    """
    try:
        if sys.platform == "win32":
            import subprocess

            assert not capture, "script.SPECULATE is off on Windows"
            popen = subprocess.Popen(argv, env=environ)
            return Running(popen.pid, None, popen)
        from uvlaunch.uv.spawn import spawn

        if not capture:
            return Running(spawn(argv, environ), None)
        from uvlaunch.uv.output import stderr_is_a_tty, terminal

        read, write = terminal() if stderr_is_a_tty() else os.pipe()
        try:
            pid = spawn(argv, environ, stderr=write)  # the read end is close-on-exec
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        return Running(pid, read)
    except OSError as e:
        raise UvError(f"{argv[0]}: cannot run uv: {e.strerror}") from None


def run_argv(uv: str, script: str, args: list[str], *, quiet: int, verbose: int) -> list[str]:
    """The command that starts ``script`` through ``uv run --active --script``."""
    return [uv, "run", *verbosity_flags(quiet, verbose), "--active", "--script", script, *args]


def venv_argv(uv: str, path: str, *, python: str | None) -> list[str]:
    """``uv venv`` of a new generation, at the path it keeps (generations.py)."""
    argv = [uv, "venv", path, "--quiet", "--link-mode", linking.link_mode()]
    return argv + (["--python", python] if python else [])


def pip_install_argv(uv: str, env: str, requirements: list[str]) -> list[str]:
    """``uv pip install --no-deps`` of exact requirements into the environment ``env``.

    Named with ``--python``: uv pip follows UV_PYTHON before VIRTUAL_ENV, and would
    install into the user's own interpreter.
    """
    python = ["--python", paths.env_python(env)]
    argv = [
        uv,
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        *python,
        "--link-mode",
        linking.link_mode(),
    ]
    return [*argv, *requirements]


def managed_env(env: str) -> dict[str, str]:
    """``base_env``, for a command that must work on ``env`` and its interpreter only.

    The user's UV_PYTHON and UV_SYSTEM_PYTHON pick the interpreter of a new environment
    (as under ``uv run``), but must never redirect work on an existing one.
    """
    child = base_env(env)
    child.pop("UV_PYTHON", None)
    child.pop("UV_SYSTEM_PYTHON", None)
    return child


def capture(argv: list[str], env: str) -> tuple[int, str]:
    """Run ``argv`` on the existing environment ``env``, output captured: (status, stderr)."""
    import subprocess

    from uvlaunch.uv.spawn import child_setup

    try:
        out = subprocess.run(
            argv,
            env=managed_env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            preexec_fn=child_setup,
        )
    except OSError as e:
        raise UvError(f"{argv[0]}: cannot run uv: {e.strerror}") from None
    return out.returncode, out.stderr.decode("utf-8", "replace") + out.stdout.decode(
        "utf-8", "replace"
    )


# Box-drawing and bullet characters uv's error reports draw with.
