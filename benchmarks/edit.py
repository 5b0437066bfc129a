#!/usr/bin/env python3
"""Edit, then run: what a block edit costs, before and after it became a new generation.

One command, from the repository's root::

    python3 benchmarks/edit.py --before REV       # e.g. --before 7dfffcc; ~5 min on 2 cores

A script with pandas, typer and rich (the real-package benchmark's, wheels from
``~/.cache/uvlaunch-bench/wheels-py3X``, downloaded once by real_packages.py or here)
is launched once; then each round edits its block, alternately adding and dropping
``httpx``, and times the launch that follows: with uvlaunch from this tree (an edit is a
new generation, built beside from uv's cache and flipped to), with uvlaunch from
``--before`` (an edit synced the current generation in place), and with
``uv run --script`` (a new cached environment per block). Side by side, rotated per
round, medians. uv's package cache is warm; everything is offline. Between rounds the
background work settles (compilers, and the next edit's generation made ahead after an
edit: building/spare.py), as it does between a person's edits; the first edit, which
has none made ahead yet, is also printed alone. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from benchlib import (
    Runner,
    Sample,
    base_environ,
    in_scratch,
    machine,
    make_venv,
    real_python,
    run,
    with_env,
    write_script,
)
from real_packages import PANDAS, default_wheels, ensure_wheels, script_text, settle

REPO = Path(__file__).resolve().parent.parent


def tree_at(rev: str, scratch: Path) -> Path:
    """A copy of the repository at ``rev`` (``git archive``), for the "before" install."""
    out = scratch / f"src-{rev}"
    out.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def edited(modules: list[str], extra: bool) -> str:
    return script_text([*modules, "httpx"] if extra else modules)


def measure(opts: argparse.Namespace, scratch: Path) -> dict[str, object]:
    base_python = real_python()
    before_tree = tree_at(opts.before, scratch)
    wheels = Path(opts.wheels) if opts.wheels else default_wheels(base_python)
    tools: dict[str, tuple[str, dict[str, str]]] = {}
    for key, tree in (("after", REPO), ("before", before_tree)):
        (scratch / key).mkdir()
        venv = make_venv(scratch / key, base_python, tree)
        uv = str(venv / "bin" / "uv")
        env = with_env(
            base_environ(scratch, venv, base_python, uv, wheels), PYTHONDONTWRITEBYTECODE=None
        )
        env["UV_NO_INDEX"] = "1"
        env["UVLAUNCH_HOME"] = str(scratch / f"home-{key}")
        tools[key] = (str(venv / "bin" / "uvlaunch"), env)
    launcher, env = tools["after"]
    uv = str(Path(launcher).parent / "uv")
    note = ensure_wheels(wheels, str(Path(launcher).parent / "python"), uv, env, scratch)
    print(f"* wheels: {note}", file=sys.stderr)
    cases: dict[str, tuple[list[str], str, dict[str, str]]] = {}
    for key, (command, environ) in tools.items():
        path = write_script(scratch / f"s-{key}" / "edit_me.py", edited(PANDAS[1], False))
        cases[f"uvlaunch, {key}"] = ([command, path], path, environ)
    path = write_script(scratch / "s-uv" / "edit_me.py", edited(PANDAS[1], False))
    cases["uv run --script"] = ([uv, "run", "--script", path], path, env)
    for argv, _, environ in cases.values():
        run(argv, env=environ)
        settle(scratch)
    runner = Runner(scratch)
    samples = {label: Sample(label) for label in cases}
    labels = list(cases)
    for r in range(opts.rounds):
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
            argv, path, environ = cases[label]
            Path(path).write_text(edited(PANDAS[1], r % 2 == 0))
            samples[label].times.append(runner.once(argv, environ))
            settle(scratch)
        print(f"\r  round {r + 1}/{opts.rounds}", end="", file=sys.stderr)
    print(file=sys.stderr)
    print(f"machine: {machine()}")
    print(f"{PANDAS[0]}: edit (add or drop httpx), then run; {opts.rounds} rounds, medians")
    for label, sample in samples.items():
        print(f"  {label:24} {sample.ms:8.0f} ms  {sample.spread()}")
    ratio = samples["uvlaunch, after"].ms / samples["uvlaunch, before"].ms
    print(f"  after / before ({opts.before}): {ratio:.2f}")
    # The first edit has no generation made ahead yet (building/spare.py): it clones.
    first = samples["uvlaunch, after"].times[0] / samples["uvlaunch, before"].times[0]
    print(
        f"  first edit alone: after {samples['uvlaunch, after'].times[0] * 1000:.0f} ms,"
        f" before {samples['uvlaunch, before'].times[0] * 1000:.0f} ms ({first:.2f})"
    )
    return {label: sample.ms for label, sample in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--wheels", help="the wheel directory (default: real_packages.py's)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--scratch",
        help="the scratch directory (default: a new one in the temporary directory); the"
        " homes are made here, and a crowded /tmp makes mkdir, so the clone, slower",
    )
    opts = parser.parse_args()
    in_scratch(
        opts.scratch, "uvlaunch-edit-", lambda d: measure(opts, d), keep=opts.keep, json_file=None
    )
    return 0


if __name__ == "__main__":
    os.environ.pop("VIRTUAL_ENV", None)
    sys.exit(main())
