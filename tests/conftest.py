"""Shared fixtures: an isolated home and uv cache per test, and a local wheelhouse.

Tests never touch the network, the user's home or the user's uv cache: every test
gets its own UVLAUNCH_HOME, UV_CACHE_DIR and HOME under tmp_path, uv runs offline
against tiny wheels this suite builds itself (wheels.py), and Python downloads are off.

Tests that use the ``sandbox`` or ``wheelhouse`` fixture are marked ``e2e``; the others
are the quick tier (``pytest -m "not e2e"``), which needs no uv. ``in_background``
starts a process and waits, with a deadline, until it says it runs.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest
from users import Stranger, make_stranger
from wheels import build_wheel

BIN = Path(sys.executable).parent
UVLAUNCH = str(BIN / "uvlaunch")  # the native launcher where it could be built
UVLAUNCH_PY = str(BIN / "uvlaunch-py")  # the Python implementation, always
UV = str(BIN / "uv")
# The real interpreter behind this venv (not a pyenv shim, which uv cannot query
# for versions the shim does not select).
BASE_PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
BASE_PYTHON_DIR = os.path.dirname(BASE_PYTHON)
PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def _uv_version() -> tuple[int, ...]:
    try:
        words = subprocess.run([UV, "--version"], capture_output=True, text=True).stdout.split()
    except OSError:
        return ()  # no uv: the quick tier (-m "not e2e") runs without it
    return tuple(int(p) for p in words[1].split(".")[:3]) if len(words) > 1 else ()


# The uv this run of the suite uses: CI runs it with the newest uv and again with the
# oldest uvlaunch supports (uv.MIN_UV), in a venv of its own.
UV_VERSION = _uv_version()


def pytest_configure() -> None:
    """Signals as a terminal gives them: a run started in the background by a shell
    without job control (``cmd &`` in a script, some CI runners) ignores SIGINT, every
    process it starts inherits that, and the tests that interrupt a script would wait
    for it forever. The scripts' own Python then handles SIGINT as it would anywhere."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_report_header() -> str:
    return f"uv {'.'.join(map(str, UV_VERSION))}: {UV}"


def needs_uv(version: str, why: str) -> pytest.MarkDecorator:
    """Skip a test on a uv older than ``version`` (say which of uv's flags or fixes it needs)."""
    wanted = tuple(int(p) for p in version.split("."))
    have = UV_VERSION
    shown = ".".join(map(str, have))
    return pytest.mark.skipif(
        have < wanted, reason=f"needs uv {version} or newer ({why}); this is uv {shown}"
    )


# The quick tier: tests that use none of these run in seconds, without uv.
E2E_FIXTURES = frozenset({"sandbox", "wheelhouse"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``e2e`` each test that drives uv or the installed command (through the
    ``sandbox`` or ``wheelhouse`` fixture): ``pytest -m "not e2e"`` runs the rest."""
    for item in items:
        if E2E_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A find-links directory of tiny wheels: alpha 1.0/2.0, beta 1.0, gamma (a console script)."""
    out = tmp_path_factory.mktemp("wheelhouse")
    build_wheel(out, "alpha", "1.0")
    build_wheel(out, "alpha", "2.0")
    build_wheel(out, "beta", "1.0")
    build_wheel(
        out,
        "gamma",
        "1.0",
        body="def main():\n    print('gamma-tool ran')\n",
        console_scripts={"gamma-tool": "gamma:main"},
    )
    build_wheel(out, "needsalpha", "1.0", requires=("alpha",))
    return out


@dataclass
class Sandbox:
    """One test's isolated world: where things live and how to run uvlaunch in it."""

    root: Path
    home: Path  # UVLAUNCH_HOME
    cache: Path  # UV_CACHE_DIR
    scripts: Path  # a directory for the test's scripts
    env: dict[str, str]
    command: str = UVLAUNCH  # what ``run`` starts (the ``launcher`` fixture changes it)

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run the installed ``uvlaunch`` command with ``args``."""
        return self.capture([self.command, *args], cwd=cwd, env=env, input=input, timeout=timeout)

    def capture(
        self,
        argv: list[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in this sandbox (its scripts directory and environment by default)."""
        return subprocess.run(
            argv,
            cwd=cwd or self.scripts,
            env=env or self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def uv(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real uv binary in this sandbox."""
        return subprocess.run(
            [UV, *args], cwd=self.scripts, env=env or self.env, capture_output=True, text=True
        )

    def script(
        self,
        name: str = "script.py",
        *,
        deps: tuple[str, ...] | list[str] = ("alpha",),
        requires_python: str | None = ">=3.10",
        body: str | None = None,
        directory: Path | None = None,
        block: bool = True,
    ) -> Path:
        """Write an executable PEP 723 script with a uvlaunch shebang; returns its path."""
        path = (directory or self.scripts) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            make_script(deps=deps, requires_python=requires_python, body=body, block=block)
        )
        path.chmod(0o755)
        return path

    def envs(self) -> list[Path]:
        """The environments under the home, one each: its current generation (the virtual
        environment its scripts run in), or its directory when it has none."""
        return [current_generation(e) for e in self.env_dirs()]

    def env_dirs(self) -> list[Path]:
        """The environment directories under the home (each holds its generations)."""
        d = self.home / "envs"
        return sorted(d.iterdir()) if d.exists() else []


def current_generation(env_dir: Path) -> Path:
    """``envs/NAME/gN`` that ``envs/NAME/current`` names, else ``env_dir`` itself."""
    link = env_dir / "current"
    return env_dir / os.readlink(link) if link.is_symlink() else env_dir


def edited_with_spare(sandbox: Sandbox) -> tuple[Path, Path, Path]:
    """A script launched, its block edited, launched again, its compiler done: the edit's
    background compiler made the next edit's generation ahead (building/spare.py).
    (script, its environment's directory, the spare)."""
    script = sandbox.script(deps=("alpha",))
    assert report(sandbox.run(str(script)))["alpha"] == "2.0"
    (env_dir,) = sandbox.env_dirs()
    settle(sandbox)
    assert not (env_dir / "spare").is_symlink()  # a first build makes none: not edited yet
    script.write_text(make_script(deps=("alpha<2",)))
    assert report(sandbox.run(str(script)))["alpha"] == "1.0"
    settle(sandbox)  # the compiler makes the spare before it notes "compiled"
    link = env_dir / "spare"
    assert link.is_symlink(), sorted(p.name for p in env_dir.iterdir())
    spare, current = env_dir / os.readlink(link), current_generation(env_dir)
    assert (spare / "uvlaunch-spare").read_text().strip() == current.name
    assert spare.name == f"g{int(current.name[1:]) + 1}"
    return script, env_dir, spare


REPORT_BODY = """\
import json, os, sys
try:
    import alpha
    alpha_version = alpha.VERSION
except ImportError:
    alpha_version = None
print(json.dumps({
    "argv": sys.argv,
    "executable": sys.executable,
    "prefix": sys.prefix,
    "cwd": os.getcwd(),
    "alpha": alpha_version,
    "VIRTUAL_ENV": os.environ.get("VIRTUAL_ENV"),
    "PATH": os.environ.get("PATH"),
}))
"""


def make_script(
    *,
    deps: tuple[str, ...] | list[str] = ("alpha",),
    requires_python: str | None = ">=3.10",
    body: str | None = None,
    block: bool = True,
) -> str:
    """The text of a PEP 723 script; by default it prints a JSON report of where it ran."""
    lines = ["#!/usr/bin/env -S uvlaunch"]
    if block:
        lines.append("# /// script")
        if requires_python is not None:
            lines.append(f'# requires-python = "{requires_python}"')
        lines.append("# dependencies = [" + ", ".join(f'"{d}"' for d in deps) + "]")
        lines.append("# ///")
    lines.append(body if body is not None else REPORT_BODY)
    return "\n".join(lines) + "\n"


def isolated_env(root: Path, wheelhouse: Path) -> dict[str, str]:
    """Environment variables for running uvlaunch and uv with nothing of the user's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UV_", "UVLAUNCH_", "VIRTUAL_ENV", "CONDA_", "XDG_", "PYTHON"))
    }
    env.update(
        HOME=str(root / "user-home"),
        UVLAUNCH_HOME=str(root / "uvlaunch-home"),
        UV_CACHE_DIR=str(root / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
        UV_FIND_LINKS=str(wheelhouse),
        UV_OFFLINE="1",
        UV_NO_CONFIG="1",
        UV_PYTHON_INSTALL_DIR=str(root / "uv-python"),
        PYTHONDONTWRITEBYTECODE=os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        # uvlaunch's venv first (for `uvlaunch` in shebangs), then the real
        # interpreter, then the system; no pyenv shims.
        PATH=os.pathsep.join([str(BIN), BASE_PYTHON_DIR, "/usr/bin", "/bin"]),
    )
    if not env["PYTHONDONTWRITEBYTECODE"]:
        del env["PYTHONDONTWRITEBYTECODE"]
    (root / "user-home").mkdir(exist_ok=True)
    return env


@pytest.fixture
def sandbox(tmp_path: Path, wheelhouse: Path) -> Sandbox:
    """An isolated uvlaunch home, uv cache, user home and scripts directory."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    env = isolated_env(tmp_path, wheelhouse)
    return Sandbox(
        root=tmp_path,
        home=Path(env["UVLAUNCH_HOME"]),
        cache=Path(env["UV_CACHE_DIR"]),
        scripts=scripts,
        env=env,
    )


def is_native(path: str) -> bool:
    """Whether ``path`` is the native launcher (a binary) rather than a Python script."""
    with open(path, "rb") as f:
        magic = f.read(4)
    return magic == b"\x7fELF" or magic[:2] in (b"\xcf\xfa", b"\xce\xfa", b"\xca\xfe")


def use_launcher(sandbox: Sandbox, which: str) -> None:
    """Make ``which`` ("native" or "python") the sandbox's uvlaunch, shebangs included.

    The native one is a copy in ``ROOT/launcher/`` with a link to ``uvlaunch-py`` beside
    it, where it looks for its Python implementation: ``block_handover`` replaces that
    link, so that a test can tell whether the native launcher took a start itself.
    """
    d = sandbox.root / "launcher"
    d.mkdir()
    if which == "native":
        if not is_native(UVLAUNCH):
            pytest.skip("the native launcher was not built (no C compiler?)")
        shutil.copy(UVLAUNCH, d / "uvlaunch")
        (d / "uvlaunch-py").symlink_to(UVLAUNCH_PY)
    else:
        (d / "uvlaunch").symlink_to(UVLAUNCH_PY)
    sandbox.command = str(d / "uvlaunch")
    sandbox.env["PATH"] = os.pathsep.join([str(d), sandbox.env["PATH"]])


@contextmanager
def block_handover(sandbox: Sandbox) -> Iterator[None]:
    """Inside: the native launcher's hand-over to Python fails with status 99."""
    link = sandbox.root / "launcher" / "uvlaunch-py"
    link.unlink()
    link.write_text("#!/bin/sh\necho handed over >&2\nexit 99\n")
    link.chmod(0o755)
    try:
        yield
    finally:
        link.unlink()
        link.symlink_to(UVLAUNCH_PY)


def must_be_warm(sandbox: Sandbox) -> AbstractContextManager[None]:
    """With the native launcher, inside this no start may be handed over to Python."""
    return block_handover(sandbox) if is_native(sandbox.command) else nullcontext()


@pytest.fixture(params=["native", "python"])
def launcher(request: pytest.FixtureRequest, sandbox: Sandbox) -> str:
    """Run the test once with each launcher as the sandbox's ``uvlaunch``."""
    use_launcher(sandbox, request.param)
    return str(request.param)


@pytest.fixture(params=["native", "python", "slow"])
def launch_path(request: pytest.FixtureRequest, sandbox: Sandbox) -> str:
    """Run the test once through each launch path: the native launcher, the Python fast
    path (``uvlaunch-py``) and the slow path (``UVLAUNCH_NO_FAST_PATH=1``)."""
    use_launcher(sandbox, "python" if request.param == "slow" else request.param)
    if request.param == "slow":
        sandbox.env["UVLAUNCH_NO_FAST_PATH"] = "1"
    return str(request.param)


def report(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """The JSON report printed by a default test script (asserting it succeeded)."""
    import json

    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def interpreter_dir(version: str) -> str | None:
    """A directory holding a real ``python<version>`` binary (pyenv's), if installed."""
    for root in (os.path.expanduser("~/.pyenv/versions"), "/root/.pyenv/versions"):
        if os.path.isdir(root):
            for entry in sorted(os.listdir(root)):
                if entry.startswith(version + "."):
                    d = os.path.join(root, entry, "bin")
                    if os.path.exists(os.path.join(d, f"python{version}")):
                        return d
    found = shutil.which(f"python{version}")
    return os.path.dirname(found) if found else None


RunFn = Callable[..., subprocess.CompletedProcess[str]]


# -- helpers for the end-to-end launch tests -------------------------------------


def execute(
    sandbox: Sandbox,
    path: Path | str,
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Execute a script file directly, through its shebang, as a shell would."""
    return sandbox.capture([str(path), *args], cwd=cwd, env=env, input=input, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """uvlaunch's own error: exit 2, one ``uvlaunch: error:`` line naming ``needles``."""
    detail = f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    assert proc.returncode == 2, detail
    assert "Traceback" not in proc.stderr, detail
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, detail
    assert lines[0].startswith("uvlaunch: error: "), detail
    for needle in needles:
        assert needle in lines[0], detail
    return lines[0]


def compiled(env: Path, limit: float = 60) -> Path:
    """Wait for the background compiler to record that ``env`` is compiled."""
    stamp = env / "uvlaunch-stamp"
    done = env / "uvlaunch-compiled"
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        parts = stamp.read_bytes().split(b"\0")
        synced = parts[parts.index(b"synced") + 1].decode()
        if done.exists() and done.read_text().split()[0] == synced:
            return env
        time.sleep(0.02)
    raise AssertionError(f"{env} was not compiled within {limit} s")


def settle(sandbox: Sandbox) -> None:
    """Wait until every environment's background compiler is done: it writes the record's
    birth time (lookup.note_birth) first, which would undo a test's damage done meanwhile."""
    for env in sandbox.envs():
        if (env / "uvlaunch-stamp").exists():
            compiled(env)


@contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """``directory`` read-only, as systemd's ProtectHome=read-only makes a home: a bind
    mount of it onto itself, remounted read-only (root only; skips where it cannot).

    Mount and umount change the machine's one mount table, and ``mount -o remount``
    finds its mount by reading that table: two at once (two pytest workers, two runs)
    made it fail now and then (status 32). They take turns under a lock file here."""
    import fcntl

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount, for a read-only bind mount")
    with open("/tmp/uvlaunch-tests-mounts.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bind = subprocess.run(
            ["mount", "--bind", str(directory), str(directory)], capture_output=True
        )
        if bind.returncode != 0:
            pytest.skip(f"needs `mount --bind`: {bind.stderr.decode(errors='replace').strip()}")
        ro = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(directory)], capture_output=True, text=True
        )
        fcntl.flock(lock, fcntl.LOCK_UN)
    try:
        assert ro.returncode == 0, f"mount -o remount,ro,bind: {ro.returncode} {ro.stderr}"
        yield
    finally:
        with open("/tmp/uvlaunch-tests-mounts.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subprocess.run(["umount", "-l", str(directory)], check=True)


def site_packages(env: Path | str) -> Path:
    """The site-packages directory of a (POSIX) virtual environment."""
    found = sorted(Path(env).glob("lib/python*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def installed(env: Path | str) -> set[str]:
    """Lower-case names of the distributions installed in an environment."""
    return {p.name.split("-")[0].lower() for p in site_packages(env).glob("*.dist-info")}


# -- a process in the background ---------------------------------------------------------


class Background:
    """A process started by ``in_background``, once it has shown that it runs."""

    def __init__(self, proc: subprocess.Popen[bytes], line: str, out: bytes, err: bytes) -> None:
        self.proc = proc
        self.line = line  # its first line on stdout, without the newline ("" for a condition)
        self._out = out  # what it printed after that line while we waited, and on stderr
        self._err = err

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def running(self) -> bool:
        return self.proc.poll() is None

    def finish(self, input: str = "", timeout: float = 60) -> tuple[str, str]:
        """Write ``input`` to its stdin, close it and wait for the process to exit.

        Returns what it printed on stdout after its first line, and on stderr.
        """
        out, err = self.proc.communicate(input.encode(), timeout=timeout)
        return (self._out + out).decode(), (self._err + err).decode()


@contextmanager
def in_background(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    ready: str | Callable[[], bool] = "started",
    deadline: float = 60,
    new_session: bool = False,
) -> Iterator[Background]:
    """Start ``argv`` with pipes for stdin, stdout and stderr; yield it once it runs.

    It runs when its first line on stdout starts with ``ready`` (a string), or when
    ``ready()`` (a function) returns true; waiting longer than ``deadline`` seconds, or
    a process that exits or prints another line first, fails the test. On leaving, a
    process still running is killed (its whole process group with ``new_session``).
    """
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=new_session,
    )
    try:
        yield _wait_until_ready(proc, ready, time.monotonic() + deadline)
    finally:
        if proc.poll() is None:
            try:
                if new_session:
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            except ProcessLookupError:
                pass
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass


def _wait_until_ready(
    proc: subprocess.Popen[bytes], ready: str | Callable[[], bool], end: float
) -> Background:
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.fileno(), proc.stderr.fileno()
    got = {out: b"", err: b""}  # read directly, so that communicate() has the rest
    reading = [out, err]

    def fail(why: str) -> AssertionError:
        text = {fd: data.decode(errors="replace") for fd, data in got.items()}
        return AssertionError(f"{proc.args!r}: {why}\nstdout: {text[out]}\nstderr: {text[err]}")

    while True:
        if isinstance(ready, str):
            if b"\n" in got[out]:
                first, rest = got[out].split(b"\n", 1)
                if not first.decode().startswith(ready):
                    raise fail(f"printed {first!r} first, not {ready!r}")
                return Background(proc, first.decode(), rest, got[err])
            if out not in reading:
                proc.wait(timeout=max(end - time.monotonic(), 1))
                raise fail(f"exited ({proc.returncode}) before it printed {ready!r}")
        elif ready():
            return Background(proc, "", got[out], got[err])
        elif proc.poll() is not None:
            raise fail(f"exited ({proc.returncode}) before it was ready")
        left = end - time.monotonic()
        if left <= 0:
            raise fail(f"not ready within the deadline ({ready!r})")
        # A line is waited for until it comes; a condition is polled every 10 ms.
        wait = left if isinstance(ready, str) else min(left, 0.01)
        if not reading:
            time.sleep(wait)
            continue
        for fd in select.select(reading, [], [], wait)[0]:
            chunk = os.read(fd, 65536)
            got[fd] += chunk
            if not chunk:
                reading.remove(fd)


@pytest.fixture(scope="session")
def stranger() -> Iterator[Stranger]:
    """A second local user, made for this session (skips where it cannot be: users.py)."""
    yield from make_stranger()
