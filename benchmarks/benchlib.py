"""What the benchmarks share: timing commands side by side, and the scratch world.

``Runner`` spawns and times one command; ``alternate`` runs a group of commands round
after round in a rotated order and collects a ``Sample`` per command (medians and
interquartile ranges). ``make_venv`` builds the scratch venv with uvlaunch installed
from a copy of a source tree; ``base_environ`` is the environment every measured
command runs with: offline, its own cache and home, nothing of the caller's uv or
Python set-up. Standard library only.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

GNU_TIME = "/usr/bin/time"


class Runner:
    """Spawns commands with stdout and stderr discarded, timing them with perf_counter.

    Peak memory comes from separate runs under GNU time (``%M``): ``wait4`` on a child
    of this process would report at least this process's own peak, because a child
    starts as a copy (or, with posix_spawn, a vfork) of this process's memory and the
    kernel keeps a process's peak across ``exec``. GNU time's child starts from time's
    small image, so what it reports is the command's own largest process.
    """

    def __init__(self, scratch: Path) -> None:
        self.devnull = os.open(os.devnull, os.O_WRONLY)
        self.errlog_path = scratch / "stderr.log"
        self.errlog = os.open(self.errlog_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.memfile = scratch / "maxrss.txt"
        self.has_time = os.access(GNU_TIME, os.X_OK) and (
            subprocess.run(
                [GNU_TIME, "-f", "%M", "-o", str(self.memfile), "true"], capture_output=True
            ).returncode
            == 0
        )

    def once(self, argv: list[str], env: dict[str, str]) -> float:
        """Run ``argv``; returns the seconds it took; raises on a non-zero exit."""
        os.ftruncate(self.errlog, 0)
        os.lseek(self.errlog, 0, os.SEEK_SET)
        actions = [
            (os.POSIX_SPAWN_DUP2, self.devnull, 1),
            (os.POSIX_SPAWN_DUP2, self.errlog, 2),
        ]
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err = self.errlog_path.read_text(errors="replace")[-3000:]
            raise CommandFailed(f"{' '.join(argv)} exited with {code}:\n{err}")
        return elapsed

    def peak_kib(self, argv: list[str], env: dict[str, str]) -> int | None:
        """The peak RSS of the largest single process of ``argv``, in KiB (None: no GNU time)."""
        if not self.has_time:
            return None
        self.once([GNU_TIME, "-f", "%M", "-o", str(self.memfile), *argv], env)
        return int(self.memfile.read_text().split()[-1])


class CommandFailed(RuntimeError):
    """A command that exited with a non-zero status; the message holds its stderr."""


class Sample:
    """The times (and peak memory) of one command over the rounds of a group."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.times: list[float] = []
        self.rss: list[int] = []

    @property
    def ms(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def rss_mib(self) -> float | None:
        return statistics.median(self.rss) / 1024 if self.rss else None

    def spread(self) -> str:
        """The interquartile range in ms, ``low-high`` (empty below four rounds)."""
        if len(self.times) < 4:
            return ""
        q = statistics.quantiles(self.times, n=4)
        return f"{q[0] * 1000:.1f}-{q[2] * 1000:.1f}"


Prep = Callable[[], list[str]]


def alternate(
    runner: Runner,
    commands: list[tuple[str, list[str], dict[str, str]]],
    rounds: int,
    *,
    memory_rounds: int = 0,
    before: dict[str, Prep] | None = None,
    progress: str = "",
) -> dict[str, Sample]:
    """Run every command once per round, rotating the order; returns samples by label.

    Then ``memory_rounds`` more rounds under GNU time, for peak memory only.
    ``before[label]``, when given, is called untimed before each run of that command
    and returns the argv to run (for cold starts: a fresh script, an emptied cache entry).
    """
    samples = {label: Sample(label) for label, _, _ in commands}
    n = len(commands)
    tty = sys.stderr.isatty()
    for r in range(rounds + memory_rounds):
        order = commands[r % n :] + commands[: r % n]
        for label, argv, env in order:
            prep = (before or {}).get(label)
            run_argv = prep() if prep is not None else argv
            if r < rounds:
                samples[label].times.append(runner.once(run_argv, env))
            else:
                kib = runner.peak_kib(run_argv, env)
                if kib is not None:
                    samples[label].rss.append(kib)
        if progress and tty:
            total = rounds + memory_rounds
            print(f"\r  {progress}: round {r + 1}/{total}", end="", file=sys.stderr, flush=True)
    if progress and tty:
        print(file=sys.stderr)
    return samples


# -- the scratch world --------------------------------------------------------------


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` untimed, capturing its output; raises CommandFailed on a non-zero exit."""
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise CommandFailed(
            f"{' '.join(map(str, argv))} exited with {proc.returncode}:\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        )
    return proc


def real_python() -> str:
    """The real interpreter running this benchmark (not a pyenv shim or a venv's link)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def make_venv(scratch: Path, base_python: str, repo: Path) -> Path:
    """A venv with an upgraded pip and uvlaunch installed from a copy of ``repo``."""
    venv = scratch / "venv"
    print(f"* creating the scratch venv with {base_python}", file=sys.stderr)
    run([base_python, "-m", "venv", str(venv)])
    py = str(venv / "bin" / "python")
    print("* upgrading pip (its console-script wrappers import less)", file=sys.stderr)
    run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    # Install from a copy, so that building leaves nothing in the repository.
    src = scratch / "uvlaunch-src"
    shutil.copytree(
        repo,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*cache", "benchmarks"
        ),
    )
    print("* installing uvlaunch (not editable)", file=sys.stderr)
    run([py, "-m", "pip", "install", "-q", str(src)])
    # A plain `python -m venv` brings setuptools, whose .pth file runs on every start;
    # a pipx or `uv tool` install has none. Drop it so that starts are like theirs.
    subprocess.run([py, "-m", "pip", "uninstall", "-q", "-y", "setuptools"], capture_output=True)
    return venv


def base_environ(
    scratch: Path, venv: Path, base_python: str, uv: str, wheels: Path
) -> dict[str, str]:
    """The environment of every measured command: nothing of the user's uv or Python set-up.

    uv finds packages in ``wheels`` only, offline; its cache and uvlaunch's home are in
    ``scratch``.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UV_", "UVLAUNCH_", "VIRTUAL_ENV", "CONDA_", "PYTHON", "XDG_"))
    }
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), os.path.dirname(base_python), "/usr/bin", "/bin"]),
        UV_CACHE_DIR=str(scratch / "uv-cache"),
        UV_FIND_LINKS=str(wheels),
        UV_OFFLINE="1",
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_PYTHON=base_python,
        UVLAUNCH_HOME=str(scratch / "home-1"),
        UVLAUNCH_UV=uv,
    )
    return env


def with_env(env: dict[str, str], **changes: str | None) -> dict[str, str]:
    """A copy of ``env`` with ``changes`` applied (None removes a variable)."""
    out = dict(env)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def write_script(path: Path, text: str) -> str:
    """Write an executable script at ``path``; returns the path as a string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def env_python(uvlaunch: str, script: str, env: dict[str, str]) -> str:
    """The interpreter of the script's uvlaunch environment (``uvlaunch where --python``)."""
    return run([uvlaunch, "where", "--python", script], env=env).stdout.strip()


def check_fast_path(uvlaunch: str, script: str, env: dict[str, str]) -> None:
    """Fail loudly if a 'warm' uvlaunch start would not take the fast path."""
    proc = run([uvlaunch, script], env=with_env(env, PYTHONPROFILEIMPORTTIME="1"))
    if "uvlaunch.launching.launch" in proc.stderr or "uvlaunch.cli.app" in proc.stderr:
        raise CommandFailed(f"{script}: a warm start did not take the fast path")


def machine() -> str:
    """The operating system, CPU model and CPU count, for the report."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs"


def in_scratch(
    scratch_dir: str | None,
    prefix: str,
    measure: Callable[[Path], dict[str, object]],
    *,
    keep: bool,
    json_file: str | None,
) -> dict[str, object]:
    """Run ``measure`` in a scratch directory (deleted unless ``keep``) and report its cost.

    Adds the load average before and after and the seconds taken to the results, prints
    them, and writes everything to ``json_file`` when one is given.
    """
    import json
    import tempfile

    started = time.monotonic()
    scratch = Path(scratch_dir or tempfile.mkdtemp(prefix=prefix)).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    try:
        results = measure(scratch)
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    results["load_average_before"] = list(load_before)
    results["load_average_after"] = list(os.getloadavg())
    results["seconds"] = round(time.monotonic() - started, 1)
    print(
        f"\nload average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
        f"took {results['seconds']:.0f} s" + (f"; scratch kept in {scratch}" if keep else "")
    )
    if json_file:
        Path(json_file).write_text(json.dumps(results, indent=2) + "\n")
    return results
