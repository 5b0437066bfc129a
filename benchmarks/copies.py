#!/usr/bin/env python3
"""Copies of one script (pandas, typer, rich) in many folders: what each copy costs.

    python3 benchmarks/copies.py [--copies 100] [--no-import] [--settle] [--uvlaunch PATH]

Needs the wheels ``benchmarks/real_packages.py`` downloads once
(``~/.cache/uvlaunch-bench/wheels-py3X``); offline otherwise, in a scratch directory
with its own home and uv cache. Measured: the first launch of the original (a build),
its warm start, the first launch of each copy (no build: a thin generation,
docs/how-it-works.md "Copies share what they can") and its warm start, in wall time
and in CPU time (uvlaunch and the script, not the detached compiler: on a machine shared
with other work it varies less), and the inodes and bytes of the home per extra copy.
``--settle`` waits for background compilers before each launch. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = """#!/usr/bin/env -S uvlaunch
# /// script
# requires-python = ">=3.10"
# dependencies = ["pandas", "typer", "rich"]
# ///
{imports}print("imported")
"""


CPU: list[float] = []  # the CPU time of each launch, in the order they ran


def launch(uvlaunch: str, script: Path, env: dict[str, str]) -> float:
    """The wall time of one launch; its CPU time (user and system, uvlaunch and the
    script, not a detached compiler) goes to CPU: on a shared machine it varies less."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([uvlaunch, str(script)], env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if proc.returncode != 0 or "imported" not in proc.stdout:
        sys.exit(f"{script}: failed: {proc.stderr.strip()}")
    return took


def footprint(top: Path) -> tuple[int, int]:
    """(inodes, bytes) under ``top``, hard links once, as du counts them."""
    seen: set[tuple[int, int]] = set()
    size = 0
    for dirpath, dirnames, filenames in os.walk(top):
        for entry in [dirpath, *(os.path.join(dirpath, n) for n in filenames + dirnames)]:
            st = os.lstat(entry)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            size += st.st_blocks * 512
    return len(seen), size


def settle(home: Path, limit: float = 900) -> None:
    """Wait for background byte-compiling (it writes uvlaunch-compiled last)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pending = [
            s
            for s in home.glob("envs/*/g*/uvlaunch-stamp")
            if not (s.parent / "uvlaunch-compiled").exists()
        ]
        if not pending:
            return
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument(
        "--no-import",
        action="store_true",
        help="the script imports nothing: the launch itself is measured, not pandas's import",
    )
    parser.add_argument(
        "--settle",
        action="store_true",
        help="before each launch, wait for background compilers (each launch measured alone)",
    )
    parser.add_argument(
        "--uvlaunch", default=str(Path(__file__).parent.parent / ".venv/bin/uvlaunch")
    )
    minor = sys.version_info[1]
    wheels = Path.home() / ".cache" / "uvlaunch-bench" / f"wheels-py3{minor}"
    parser.add_argument("--wheels", default=str(wheels))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="uvlaunch-copies-"))
    try:
        home = scratch / "home"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("UV_", "UVLAUNCH_"))},
            "UVLAUNCH_HOME": str(home),
            "UV_CACHE_DIR": str(scratch / "cache"),
            "UV_OFFLINE": "1",
            "UV_NO_CONFIG": "1",
            "UV_FIND_LINKS": args.wheels,
            "UV_PYTHON_DOWNLOADS": "never",
            "UVLAUNCH_SHARE": "1",  # the default now; set for revisions before it was
            "PATH": f"{Path(args.uvlaunch).parent}:{os.environ['PATH']}",
        }
        scripts = []
        for i in range(args.copies + 1):
            folder = scratch / "runs" / f"run{i:03d}"
            folder.mkdir(parents=True)
            imports = "" if args.no_import else "import pandas, rich, typer\n"
            (folder / "train.py").write_text(SCRIPT.format(imports=imports))
            (folder / "train.py").chmod(0o755)
            scripts.append(folder / "train.py")
        first = launch(args.uvlaunch, scripts[0], env)
        settle(home)
        warm = [launch(args.uvlaunch, scripts[0], env) for _ in range(5)]
        one = footprint(home)
        firsts, warms = [], []
        cpu_first, cpu_warm = [], []
        for script in scripts[1:]:
            if args.settle:
                settle(home)
            firsts.append(launch(args.uvlaunch, script, env))
            cpu_first.append(CPU[-1])
            if args.settle:
                settle(home)
            warms.append(launch(args.uvlaunch, script, env))
            cpu_warm.append(CPU[-1])
        settle(home)
        every = footprint(home)
        n = args.copies
        print(f"original: first launch {first:.2f} s, warm {statistics.median(warm) * 1000:.1f} ms")
        print(
            f"{n} copies: first launch median {statistics.median(firsts) * 1000:.1f} ms "
            f"(max {max(firsts) * 1000:.1f}), warm median {statistics.median(warms) * 1000:.1f} ms"
        )
        gap = [f - w for f, w in zip(firsts, warms, strict=True)]
        median_gap = statistics.median(gap) * 1000
        print(f"first launch minus warm start of the same copy: median {median_gap:.1f} ms")
        cpu_gap = [f - w for f, w in zip(cpu_first, cpu_warm, strict=True)]
        print(
            f"CPU time: first launch median {statistics.median(cpu_first) * 1000:.1f} ms, "
            f"warm {statistics.median(cpu_warm) * 1000:.1f} ms, "
            f"first minus warm median {statistics.median(cpu_gap) * 1000:.1f} ms"
        )
        print(
            f"home: one script {one[0]} inodes {one[1] / 2**20:.1f} MiB; with {n} copies "
            f"{every[0]} inodes {every[1] / 2**20:.1f} MiB ({every[1] / one[1]:.3f}x)"
        )
        print(
            f"per extra copy: {(every[0] - one[0]) / n:.1f} inodes, "
            f"{(every[1] - one[1]) / n / 1024:.1f} KiB"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
