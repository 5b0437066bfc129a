#!/usr/bin/env python3
"""Benchmark uvlaunch against ``uv run --script`` on real packages from PyPI.

One command, from the repository's root::

    python3 benchmarks/real_packages.py            # about 10 minutes on 2 cores
    python3 benchmarks/real_packages.py --quick    # about 3 to 4 minutes

The wheels of pandas, typer, rich, boto3 and httpx (and their dependencies) are
downloaded once with ``pip download`` into a directory outside the repository
(``~/.cache/uvlaunch-bench/wheels-py3X``) and reused by later runs; everything else is
offline and happens in a scratch directory (deleted at the end unless ``--keep``): a
venv with uvlaunch installed from a copy of ``--repo``, and for uv and uvlaunch their
own cache and home. Commands of a group run side by side in an order rotated from
round to round; the figures are medians over the rounds.

Measured: the first launch of a new script (uv's package cache warm), first launches
of several new scripts in a row (nothing settles in between: what one leaves running
meets the next), warm starts, warm starts with PYTHONDONTWRITEBYTECODE=1 once the
first launch has settled, and the disk used by three scripts that share pandas.
Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchlib import (
    CommandFailed,
    Runner,
    Sample,
    alternate,
    base_environ,
    check_fast_path,
    env_python,
    in_scratch,
    machine,
    make_venv,
    real_python,
    run,
    with_env,
    write_script,
)

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["pandas", "typer", "rich", "boto3", "httpx"]

# The measured scripts: dependencies, and the modules they import.
PANDAS = ("pandas+typer+rich", ["pandas", "typer", "rich"])
BOTO = ("boto3+httpx", ["boto3", "httpx"])
# Three scripts that share pandas, for the disk comparison.
DISK_SCRIPTS = {
    "d1_pandas": ["pandas"],
    "d2_pandas_rich": ["pandas", "rich"],
    "d3_pandas_typer": ["pandas", "typer"],
}
SETTLE_LIMIT = 10.0  # seconds to wait for a first launch's leftover work
IN_A_ROW = 5  # new scripts launched one right after the other

# -- scripts and wheels -------------------------------------------------------------


def script_text(modules: list[str]) -> str:
    """A PEP 723 script that depends on ``modules``, imports them all and prints one line."""
    deps = ", ".join(f'"{m}"' for m in modules)
    imports = "\n".join(f"import {m}" for m in sorted(modules))
    names = ", ".join(modules)
    return f'''#!/usr/bin/env -S uvlaunch
# /// script
# requires-python = ">=3.10"
# dependencies = [{deps}]
# ///
"""Import real packages and print one line."""

{imports}

print("imported", ", ".join(m.__name__ for m in ({names},)))
'''


def default_wheels(base_python: str) -> Path:
    """``~/.cache/uvlaunch-bench/wheels-py3X`` for the interpreter's version."""
    minor = run([base_python, "-c", "import sys; print(sys.version_info[1])"]).stdout.strip()
    return Path.home() / ".cache" / "uvlaunch-bench" / f"wheels-py3{minor}"


def wheels_complete(uv: str, wheels: Path, env: dict[str, str], scratch: Path) -> str | None:
    """None if every script's dependencies resolve from ``wheels`` alone; else uv's complaint."""
    if not wheels.is_dir():
        return f"{wheels} does not exist"
    for i, modules in enumerate([PANDAS[1], BOTO[1], *DISK_SCRIPTS.values()]):
        reqs = scratch / f"requirements-{i}.txt"
        reqs.write_text("\n".join(modules) + "\n")
        argv = [uv, "pip", "compile", "--quiet", "--no-index", "--find-links", str(wheels)]
        proc = subprocess.run(
            [*argv, "--python", env["UV_PYTHON"], str(reqs)],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode != 0:
            return proc.stderr.strip().splitlines()[-1].strip() if proc.stderr.strip() else "failed"
    return None


def ensure_wheels(
    wheels: Path, venv_python: str, uv: str, env: dict[str, str], scratch: Path
) -> str:
    """Make sure ``wheels`` holds everything the scripts need; download from PyPI if not."""
    missing = wheels_complete(uv, wheels, env, scratch)
    if missing is None:
        n = len(list(wheels.glob("*.whl")))
        return f"reused {wheels} ({n} wheels)"
    print(f"* downloading wheels into {wheels} ({missing})", file=sys.stderr)
    wheels.mkdir(parents=True, exist_ok=True)
    version = run([venv_python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    # pip with the caller's own configuration (index, mirror, proxy): the one step online.
    run(
        [
            venv_python,
            "-m",
            "pip",
            "download",
            "-q",
            "--only-binary=:all:",
            "-d",
            str(wheels),
            "--python-version",
            version.stdout.strip(),
            *PACKAGES,
        ]
    )
    missing = wheels_complete(uv, wheels, env, scratch)
    if missing is not None:
        raise CommandFailed(f"{wheels} is still incomplete after pip download: {missing}")
    n = len(list(wheels.glob("*.whl")))
    return f"downloaded into {wheels} ({n} wheels)"


# -- waiting for a first launch to settle ---------------------------------------------


def busy_pids(needle: bytes) -> list[int]:
    """Processes other than this one whose command line mentions ``needle``."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            continue  # gone meanwhile
    return found


def settle(scratch: Path, limit: float = SETTLE_LIMIT, quiet: float = 0.3) -> float:
    """Wait until no process works in ``scratch`` (for ``quiet`` s); returns the seconds waited.

    A first launch may leave work behind (byte-compiling in the background, for
    example), run by processes whose command line names the scratch directory: the
    launcher's forks, or an interpreter of an environment in it. Without /proc this
    sleeps three seconds instead.
    """
    t0 = time.monotonic()
    if not os.path.isdir("/proc/self"):
        time.sleep(3.0)
        return 3.0
    needle = os.fsencode(str(scratch))
    calm_since = None
    while time.monotonic() - t0 < limit:
        if busy_pids(needle):
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return calm_since - t0
        time.sleep(0.05)
    return time.monotonic() - t0


def pyc_usage(top: Path) -> tuple[int, int]:
    """How many ``.pyc`` files are under ``top``, and the bytes they occupy on disk."""
    count = used = 0
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            if name.endswith(".pyc"):
                count += 1
                used += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return count, used


def du_kib(*paths: Path) -> list[int]:
    """``du -sk`` of ``paths`` in one invocation (a hard-linked file counts once, first)."""
    out = run(["du", "-sk", *map(str, paths)]).stdout.split("\n")
    return [int(line.split()[0]) for line in out if line.strip()]


# -- first launches -----------------------------------------------------------------


@dataclass(frozen=True)
class FirstLaunch:
    """One kind of first launch: ``prep`` writes a new script and returns the argv."""

    label: str
    prep: Callable[[], list[str]]
    env: dict[str, str]
    second: bool = False  # also time the start right after it


def first_launches(
    runner: Runner, cases: list[FirstLaunch], rounds: int, scratch: Path
) -> tuple[dict[str, Sample], dict[str, Sample], dict[str, Sample]]:
    """Time each case's first launch once per round, in a rotated order.

    Returns the first launches, the second starts (cases with ``second``) and the
    time each first launch took to settle, by label. Settling is untimed and happens
    after every case, so that leftover work never runs into the next measurement.
    """
    first = {c.label: Sample(c.label) for c in cases}
    second = {c.label: Sample(c.label) for c in cases if c.second}
    settled = {c.label: Sample(c.label) for c in cases}
    tty = sys.stderr.isatty()
    for r in range(rounds):
        for case in cases[r % len(cases) :] + cases[: r % len(cases)]:
            argv = case.prep()
            first[case.label].times.append(runner.once(argv, case.env))
            if case.second:
                second[case.label].times.append(runner.once(argv, case.env))
            settled[case.label].times.append(settle(scratch))
        if tty:
            print(f"\r  first launches: round {r + 1}/{rounds}", end="", file=sys.stderr)
    if tty:
        print(file=sys.stderr)
    return first, second, settled


def in_a_row(
    runner: Runner,
    rows: dict[str, Callable[[], list[str]]],
    env: dict[str, str],
    rounds: int,
    length: int,
    scratch: Path,
) -> dict[str, Sample]:
    """First launches of ``length`` new scripts one right after the other, per tool.

    ``rows`` maps a tool's label to a function that writes a new script and returns
    its argv. Nothing settles between the launches of a row (a first launch's leftover
    work, such as the background compiler, meets the next one); the row settles before
    the next tool's. Returns one Sample per tool and position: "LABEL, #N".
    """
    out = {
        f"{label}, #{i + 1}": Sample(f"{label}, #{i + 1}") for label in rows for i in range(length)
    }
    labels = list(rows)
    for r in range(rounds):
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
            for i in range(length):
                out[f"{label}, #{i + 1}"].times.append(runner.once(rows[label](), env))
            settle(scratch)
    return out


def anatomy(
    venv_python: str, uv: str, scripts: Path, env: dict[str, str], rounds: int
) -> dict[str, Sample] | str:
    """A first launch of the pandas script in steps, without a launcher around them.

    ``uv sync --active --script`` into a new venv, byte-compiling its site-packages
    with uvlaunch's own ``bytecode`` module (timed inside that process), then the
    script with the environment's python. Returns a note instead if a step fails.
    """
    steps = {k: Sample(k) for k in ("uv sync", "byte-compile (in-process)", "script run")}
    compile_py = (
        "import sys, time\nfrom uvlaunch.building import bytecode\n"
        "t = time.perf_counter()\n"
        "n = bytecode.compile_dirs(bytecode.site_packages(sys.argv[1]))\n"
        "print(n, time.perf_counter() - t)\n"
    )
    files = 0
    for i in range(rounds):
        d = scripts / f"anatomy{i}"
        path = write_script(d / "an_pandas.py", script_text(PANDAS[1]))
        venv = str(d / "venv")
        sync_env = with_env(env, VIRTUAL_ENV=venv)
        argv = [uv, "sync", "--active", "--script", path, "--link-mode", "hardlink"]
        try:
            t0 = time.perf_counter()
            run(argv, env=sync_env)
            steps["uv sync"].times.append(time.perf_counter() - t0)
            out = run([venv_python, "-c", compile_py, venv], env=env).stdout.split()
            files, seconds = int(out[0]), float(out[1])
            steps["byte-compile (in-process)"].times.append(seconds)
            t0 = time.perf_counter()
            run([str(d / "venv" / "bin" / "python"), path], env=env)
            steps["script run"].times.append(time.perf_counter() - t0)
        except (CommandFailed, ValueError, IndexError) as e:
            return f"skipped: {str(e).strip().splitlines()[-1][:200]}"
        shutil.rmtree(d, ignore_errors=True)
    steps["byte-compile (in-process)"].label = f"byte-compile (in-process, {files} files)"
    return steps


# -- disk ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskUse:
    """What three scripts that share pandas leave on disk, in KiB (``du -sk``)."""

    home: int  # uvlaunch's home
    cache_beyond_home: int  # its uv cache, less what is hard-linked into the home
    uv_cache: int  # uv's cache after `uv run --script` on the same scripts
    pyc_script: str  # the script whose environments' .pyc files are counted
    pyc_uvlaunch: tuple[int, int]  # files, bytes
    pyc_uv: tuple[int, int]

    @property
    def uvlaunch(self) -> int:
        return self.home + self.cache_beyond_home


def disk(uvlaunch: str, uv: str, scratch: Path, env: dict[str, str]) -> DiskUse:
    """Run three scripts that share pandas through each tool, with caches of their own."""
    home = scratch / "disk-home"
    cache_ul, cache_uv = scratch / "disk-cache-uvlaunch", scratch / "disk-cache-uv"
    in_ul = with_env(env, UVLAUNCH_HOME=str(home), UV_CACHE_DIR=str(cache_ul))
    in_uv = with_env(env, UV_CACHE_DIR=str(cache_uv))
    paths = {}
    for name, modules in DISK_SCRIPTS.items():
        path = write_script(scratch / "disk" / f"{name}.py", script_text(modules))
        run([uvlaunch, path], env=in_ul)
        settle(scratch)
        run([uv, "run", "--script", path], env=in_uv)
        paths[name] = path
    # One du for both, so that a file hard-linked from the cache into the home counts once.
    home_kib, cache_ul_kib = du_kib(home, cache_ul)
    (uv_kib,) = du_kib(cache_uv)
    first = next(iter(DISK_SCRIPTS))
    ul_env = Path(run([uvlaunch, "where", paths[first]], env=in_ul).stdout.strip())
    # uv names a script's environment after its stem with "_" turned into "-".
    uv_envs = sorted((cache_uv / "environments-v2").glob(f"{first.split('_')[0]}-*"))
    return DiskUse(
        home=home_kib,
        cache_beyond_home=cache_ul_kib,
        uv_cache=uv_kib,
        pyc_script=first,
        pyc_uvlaunch=pyc_usage(ul_env),
        pyc_uv=pyc_usage(uv_envs[0]) if len(uv_envs) == 1 else (0, 0),
    )


# -- the benchmark ------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (3 to 4 minutes)")
    parser.add_argument("--repo", default=str(REPO), help="uvlaunch source tree to install")
    parser.add_argument("--wheels", help="wheel directory (default ~/.cache/uvlaunch-bench/...)")
    parser.add_argument("--rounds", type=int, help="warm rounds (default 40; quick 15)")
    parser.add_argument("--nowrite-rounds", type=int, help="warm rounds, no .pyc written")
    parser.add_argument("--cold-rounds", type=int, help="first-launch rounds (7; quick 3)")
    parser.add_argument("--python", default=real_python(), help="interpreter for both tools")
    parser.add_argument("--scratch", help="scratch directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--strict", action="store_true", help="exit with 1 when a target fails")
    parser.add_argument(
        "--no-share",
        action="store_true",
        help="UVLAUNCH_SHARE=0: every first launch builds (by default a new script whose"
        " block an earlier one had shares that one's packages)",
    )
    opts = parser.parse_args()
    opts.warm_rounds = opts.rounds or (15 if opts.quick else 40)
    opts.nowrite_rounds = opts.nowrite_rounds or (8 if opts.quick else 20)
    opts.cold_rounds = opts.cold_rounds or (3 if opts.quick else 7)

    results = in_scratch(
        opts.scratch,
        "uvlaunch-real-",
        lambda scratch: bench(opts, scratch),
        keep=opts.keep,
        json_file=opts.json,
    )
    failed = any(t["ok"] is False for t in results["targets"])  # type: ignore[attr-defined]
    return 1 if opts.strict and failed else 0


def bench(opts: argparse.Namespace, scratch: Path) -> dict[str, object]:
    """Set up the scratch world, run every measurement, and print the report."""
    repo = Path(opts.repo).resolve()
    if not (repo / "pyproject.toml").is_file():
        raise SystemExit(f"{repo}: not a uvlaunch source tree (no pyproject.toml)")
    base_python = os.path.realpath(opts.python)
    wheels = Path(opts.wheels).resolve() if opts.wheels else default_wheels(base_python)
    for tree in {repo, REPO}:
        if wheels == tree or tree in wheels.parents:
            raise SystemExit(f"{wheels}: the wheel directory must be outside {tree}")
    venv = make_venv(scratch, base_python, repo)
    uvlaunch, uv = str(venv / "bin" / "uvlaunch"), str(venv / "bin" / "uv")
    venv_python = str(venv / "bin" / "python")
    env = base_environ(scratch, venv, base_python, uv, wheels)
    if opts.no_share:
        env["UVLAUNCH_SHARE"] = "0"
    env["UV_NO_INDEX"] = "1"  # find-links only: no index to ask, not even offline
    neutral = with_env(env, PYTHONDONTWRITEBYTECODE=None)
    nowrite = with_env(env, PYTHONDONTWRITEBYTECODE="1")
    wheel_note = ensure_wheels(wheels, venv_python, uv, neutral, scratch)
    scripts = scratch / "scripts"
    os.chdir(scratch)
    runner = Runner(scratch)
    results: dict[str, object] = {
        "machine": machine(),
        "python": f"{run([base_python, '-V']).stdout.strip()} ({base_python})",
        "uv": f"{run([uv, '--version']).stdout.strip()} ({uv})",
        "uvlaunch": f"{repo} {git_describe(repo)}",
        "wheels": wheel_note,
        "rounds": {
            "first launch": opts.cold_rounds,
            "warm": opts.warm_rounds,
            "warm, no .pyc written": opts.nowrite_rounds,
        },
    }

    print("* first runs (uv's package cache gets warm here)", file=sys.stderr)
    warm = {
        key: write_script(scripts / f"warm_{key.split('+')[0]}.py", script_text(mods))
        for key, mods in (PANDAS, BOTO)
    }
    nw = {
        key: write_script(scripts / f"nw_{key.split('+')[0]}.py", script_text(mods))
        for key, mods in (PANDAS, BOTO)
    }
    for path in warm.values():
        run([uv, "run", "--script", path], env=neutral)
        run([uvlaunch, path], env=neutral)
        settle(scratch)
    # Environments that only ever run with PYTHONDONTWRITEBYTECODE=1: first launches,
    # then wait for them to settle before any warm figure is taken.
    settle_info = {}
    for key, path in nw.items():
        run([uvlaunch, path], env=nowrite)
        env_dir = Path(run([uvlaunch, "where", path], env=neutral).stdout.strip())
        pyc_now = pyc_usage(env_dir)[0]
        waited = settle(scratch)
        settle_info[key] = (pyc_now, pyc_usage(env_dir)[0], waited)
        run([uv, "run", "--script", path], env=nowrite)
    for path in warm.values():
        check_fast_path(uvlaunch, path, neutral)
    for path in nw.values():
        check_fast_path(uvlaunch, path, nowrite)
    py_env = env_python(uvlaunch, warm[PANDAS[0]], neutral)

    print("* warm starts", file=sys.stderr)
    warm_cmds = []
    for key in (PANDAS[0], BOTO[0]):
        warm_cmds.append((f"uvlaunch, {key}", [uvlaunch, warm[key]], neutral))
        warm_cmds.append((f"uv run --script, {key}", [uv, "run", "--script", warm[key]], neutral))
    warm_cmds.append((f"env python (bare), {PANDAS[0]}", [py_env, warm[PANDAS[0]]], neutral))
    ws = alternate(runner, warm_cmds, opts.warm_rounds, progress="warm")

    print("* warm starts with PYTHONDONTWRITEBYTECODE=1 (settled)", file=sys.stderr)
    nw_cmds = []
    for key in (PANDAS[0], BOTO[0]):
        nw_cmds.append((f"uvlaunch, {key}", [uvlaunch, nw[key]], nowrite))
        nw_cmds.append((f"uv run --script, {key}", [uv, "run", "--script", nw[key]], nowrite))
    nws = alternate(runner, nw_cmds, opts.nowrite_rounds, progress="warm, no .pyc written")

    print("* first launches (uv's package cache warm, a new script each time)", file=sys.stderr)
    counter = iter(range(10**9))
    envs_v2 = scratch / "uv-cache" / "environments-v2"
    home_cold = scratch / "home-cold"

    def fresh(tool: str, modules: list[str]) -> Callable[[], list[str]]:
        def prep() -> list[str]:
            d = scratch / "cold" / f"{tool}{next(counter)}"
            path = write_script(d / f"first_{modules[0]}.py", script_text(modules))
            if tool == "uvlaunch":
                return [uvlaunch, path]
            for entry in envs_v2.glob("first*"):  # uv keys script environments by path
                shutil.rmtree(entry, ignore_errors=True)
            return [uv, "run", "--script", path]

        return prep

    cold_n = with_env(neutral, UVLAUNCH_HOME=str(home_cold))
    cold_w = with_env(nowrite, UVLAUNCH_HOME=str(home_cold))
    p, b = PANDAS, BOTO
    cases = [
        FirstLaunch(f"uvlaunch, {p[0]}", fresh("uvlaunch", p[1]), cold_n),
        FirstLaunch(f"uv run --script, {p[0]}", fresh("uv", p[1]), cold_n),
        FirstLaunch(f"uvlaunch, {b[0]}", fresh("uvlaunch", b[1]), cold_n),
        FirstLaunch(f"uv run --script, {b[0]}", fresh("uv", b[1]), cold_n),
        FirstLaunch(
            f"uvlaunch, {p[0]}, UVLAUNCH_COMPILE_BYTECODE=0",
            fresh("uvlaunch", p[1]),
            with_env(cold_n, UVLAUNCH_COMPILE_BYTECODE="0"),
        ),
        FirstLaunch(
            f"uvlaunch, {p[0]}, PYTHONDONTWRITEBYTECODE=1", fresh("uvlaunch", p[1]), cold_w, True
        ),
        FirstLaunch(
            f"uv run --script, {p[0]}, PYTHONDONTWRITEBYTECODE=1", fresh("uv", p[1]), cold_w, True
        ),
    ]
    cs, seconds, settled = first_launches(runner, cases, opts.cold_rounds, scratch)
    print(f"* {IN_A_ROW} first launches in a row", file=sys.stderr)
    rows = {"uvlaunch": fresh("uvlaunch", b[1]), "uv run --script": fresh("uv", b[1])}
    row = in_a_row(runner, rows, cold_n, opts.cold_rounds, IN_A_ROW, scratch)
    shutil.rmtree(home_cold, ignore_errors=True)
    shutil.rmtree(scratch / "cold", ignore_errors=True)

    print("* a first launch in steps, without a launcher", file=sys.stderr)
    steps = anatomy(venv_python, uv, scripts, neutral, 1 if opts.quick else 3)

    print("* disk: three scripts that share pandas", file=sys.stderr)
    du = disk(uvlaunch, uv, scratch, neutral)

    return report(results, ws, nws, cs, seconds, settled, settle_info, steps, du, row)


def git_describe(repo: Path) -> str:
    """The source tree's branch and commit, when it is a git checkout."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    )
    branch = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--abbrev-ref", "HEAD"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return "(not a git checkout)"
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True
    ).stdout.splitlines()
    # What is installed is the working tree, uncommitted changes included: say so.
    untracked = sum(line.startswith("??") for line in status)
    changed = len(status) - untracked
    subject = proc.stdout.strip()
    subject = subject if len(subject) <= 50 else subject[:49] + "…"
    state = f", {changed} changed and {untracked} untracked files" if status else ""
    return f"({branch.stdout.strip()} {subject}{state})"


# -- the report ---------------------------------------------------------------------


def table(
    title: str, samples: dict[str, Sample], refs: dict[str, str] | None = None
) -> list[dict[str, object]]:
    """Print one group: median, IQR (or min-max below four rounds) and the ratio to its uv row."""
    refs = refs or {}
    print(f"\n{title}")
    print(f"  {'command':<62} {'median ms':>10} {'IQR ms':>15} {'ratio':>7} {'n':>3}")
    rows = []
    for s in samples.values():
        ref = refs.get(s.label)
        ratio = s.ms / samples[ref].ms if ref else None
        shown = f"{ratio:.2f}x" if ratio is not None else ""
        spread = s.spread() or f"({min(s.times) * 1000:.0f}-{max(s.times) * 1000:.0f})"
        print(f"  {s.label:<62} {s.ms:>10.1f} {spread:>15} {shown:>7} {len(s.times):>3}")
        rows.append(
            {
                "command": s.label,
                "median_ms": round(s.ms, 2),
                "iqr_ms": s.spread(),
                "min_ms": round(min(s.times) * 1000, 2),
                "max_ms": round(max(s.times) * 1000, 2),
                "ratio": round(ratio, 3) if ratio is not None else None,
                "n": len(s.times),
            }
        )
    return rows


def uv_refs(samples: dict[str, Sample]) -> dict[str, str]:
    """Each row's uv row: the same script (and variables) run by ``uv run --script``."""
    refs = {}
    for label in samples:
        if label.startswith("uv run"):
            continue
        rest = label.split(", ", 1)[1]
        for candidate in (f"uv run --script, {rest}", f"uv run --script, {rest.split(', ')[0]}"):
            if candidate in samples:
                refs[label] = candidate
                break
    return refs


def report(
    results: dict[str, object],
    ws: dict[str, Sample],
    nws: dict[str, Sample],
    cs: dict[str, Sample],
    seconds: dict[str, Sample],
    settled: dict[str, Sample],
    settle_info: dict[str, tuple[int, int, float]],
    steps: dict[str, Sample] | str,
    du: DiskUse,
    row: dict[str, Sample],
) -> dict[str, object]:
    """Print every table and the targets; returns ``results`` with all figures added."""
    for key in ("machine", "python", "uv", "uvlaunch", "wheels", "rounds"):
        print(f"{key + ':':<10} {results[key]}")
    print("Ratios are to `uv run --script` on the same script; medians over alternating rounds.")
    results["first_launch"] = table(
        "First launch (a new script each round; uv's package cache warm)", cs, uv_refs(cs)
    )
    results["second_start"] = table(
        "The start right after a first launch, PYTHONDONTWRITEBYTECODE=1 (not settled)",
        seconds,
        uv_refs(seconds),
    )
    row_refs = {
        k: "uv run --script" + k[len("uvlaunch") :] for k in row if k.startswith("uvlaunch")
    }
    results["in_a_row"] = table(
        f"{IN_A_ROW} first launches in a row, {BOTO[0]} (a new script each; nothing settles "
        "between them)",
        row,
        row_refs,
    )
    longest = max(max(s.times) for s in settled.values())
    print(f"\n  Settling after a first launch (leftover processes): at most {longest:.2f} s")
    if longest >= 0.05:
        for s in settled.values():
            print(f"    {s.label:<62} median {s.ms / 1000:.2f} s, max {max(s.times):.2f} s")
    results["settle_s"] = {s.label: round(max(s.times), 2) for s in settled.values()}
    results["warm"] = table("Warm start (PYTHONDONTWRITEBYTECODE unset)", ws, uv_refs(ws))
    results["warm_nowrite"] = table(
        "Warm start, PYTHONDONTWRITEBYTECODE=1, environments that never ran without it "
        "(after settling)",
        nws,
        uv_refs(nws),
    )
    for key, (before, after, waited) in settle_info.items():
        print(
            f"  uvlaunch's {key} environment: {before} .pyc files when its first launch "
            f"returned, {after} after settling ({waited:.2f} s)"
        )
    results["settle_nowrite"] = settle_info
    if isinstance(steps, str):
        print(f"\nA first launch in steps: {steps}")
        results["steps"] = steps
    else:
        results["steps"] = table(
            f"A first launch of the {PANDAS[0]} script in steps, without a launcher", steps
        )
        total = sum(s.ms for s in steps.values())
        print(f"  {'sum of the medians':<62} {total:>10.1f}")

    mib = 1024.0
    print(f"\nDisk after three scripts that use pandas ({', '.join(DISK_SCRIPTS)}; du -sk)")
    print(
        f"  {'uvlaunch: its home + its uv cache':<38} {du.uvlaunch / mib:>8.1f} MiB "
        f"(home {du.home / mib:.1f}, cache beyond it {du.cache_beyond_home / mib:.1f})"
    )
    print(f"  {'uv run --script: uv cache':<38} {du.uv_cache / mib:>8.1f} MiB")
    print(f"  {'ratio':<38} {du.uvlaunch / du.uv_cache:>8.2f}x")
    (ul_n, ul_b), (uv_n, uv_b) = du.pyc_uvlaunch, du.pyc_uv
    print(
        f"  .pyc in the {du.pyc_script} environment: uvlaunch's {ul_n} files, "
        f"{ul_b / 2**20:.1f} MiB; uv's {uv_n} files, {uv_b / 2**20:.1f} MiB"
    )
    results["disk_kib"] = {
        "uvlaunch_home": du.home,
        "uvlaunch_cache_beyond_home": du.cache_beyond_home,
        "uvlaunch_total": du.uvlaunch,
        "uv_cache": du.uv_cache,
        "pyc_script": du.pyc_script,
        "pyc_uvlaunch_files_bytes": list(du.pyc_uvlaunch),
        "pyc_uv_files_bytes": list(du.pyc_uv),
    }

    targets: list[dict[str, object]] = []

    def target(name: str, a: Sample | float, b: Sample | float, limit: float) -> None:
        x = a.ms if isinstance(a, Sample) else a
        y = b.ms if isinstance(b, Sample) else b
        ratio = x / y
        unit = "ms" if isinstance(a, Sample) else "MiB"
        ok = ratio <= limit
        shown = f"{ratio:.2f}x ({x:.1f} vs {y:.1f} {unit})"
        targets.append({"target": name, "measured": shown, "ratio": round(ratio, 3), "ok": ok})
        print(f"  {'PASS' if ok else 'FAIL':<5} {name:<66} {shown}")

    print("\nTargets")
    for key in (PANDAS[0], BOTO[0]):
        target(
            f"first launch <= 1.1x uv run, {key}",
            cs[f"uvlaunch, {key}"],
            cs[f"uv run --script, {key}"],
            1.1,
        )
    target(
        f"warm <= 1.0x uv run, {PANDAS[0]}",
        ws[f"uvlaunch, {PANDAS[0]}"],
        ws[f"uv run --script, {PANDAS[0]}"],
        1.0,
    )
    for key in (PANDAS[0], BOTO[0]):
        target(
            f"warm, PYTHONDONTWRITEBYTECODE=1 <= 0.5x uv run, {key}",
            nws[f"uvlaunch, {key}"],
            nws[f"uv run --script, {key}"],
            0.5,
        )
    for i in range(IN_A_ROW):
        target(
            f"first launch #{i + 1} in a row <= 1.0x uv run, {BOTO[0]}",
            row[f"uvlaunch, #{i + 1}"],
            row[f"uv run --script, #{i + 1}"],
            1.0,
        )
    target("disk <= 1.2x uv's cache", du.uvlaunch / mib, du.uv_cache / mib, 1.2)
    results["targets"] = targets
    return results


if __name__ == "__main__":
    sys.exit(main())
