#!/usr/bin/env python3
"""Warm start through the shebang: the native launcher, the Python one, uv, no launcher.

One command, from the repository's root::

    python3 benchmarks/native.py            # about 40 s on 2 cores
    python3 benchmarks/native.py --quick    # about 15 s

The scratch world is bench.py's (benchlib.make_venv: uvlaunch installed from a copy of
this repository, so setup.py builds the native launcher when ``cc`` works; offline
wheels; a home and uv cache of its own). The same one-dependency script is started,
side by side and in a rotated order:

- through ``#!/usr/bin/env -S uvlaunch`` with the native launcher as ``uvlaunch``;
- the same, with the Python launcher (``uvlaunch-py``) as ``uvlaunch`` on ``PATH``;
- through ``#!/usr/bin/env -S uv run --script`` (a copy of the script with uv's shebang);
- with the environment's python started on it directly (the floor);
- through the command ``uvlaunch install`` made for it (a ``/bin/sh`` file that execs the
  native launcher on the script);
- by a second name (a hard link) started before, and by a new hard link each round (its
  first start: the name is recorded then, issue 25), each a script of its own, since a
  new link changes the file's ctime and so its warm record.

It prints medians, interquartile ranges, ratios and peak memory (GNU time's %M), then
its targets with PASS or FAIL, and exits 1 when one fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench import SCRIPT, build_wheels
from benchlib import (
    Runner,
    alternate,
    base_environ,
    env_python,
    machine,
    make_venv,
    real_python,
    run,
    with_env,
    write_script,
)

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, help="rounds (default 150; quick 40)")
    parser.add_argument("--python", default=real_python())
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", help="write the figures to this file")
    opts = parser.parse_args()
    rounds = opts.rounds or (40 if opts.quick else 150)
    scratch = Path(tempfile.mkdtemp(prefix="uvlaunch-native-bench-"))
    try:
        return bench(opts, scratch, rounds)
    finally:
        if opts.keep:
            print(f"* kept {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def bench(opts: argparse.Namespace, scratch: Path, rounds: int) -> int:
    base_python = os.path.realpath(opts.python)
    venv = make_venv(scratch, base_python, REPO)
    bin_dir = venv / "bin"
    uv = str(bin_dir / "uv")
    with open(bin_dir / "uvlaunch", "rb") as f:
        if f.read(4) != b"\x7fELF" and sys.platform == "linux":
            print("* the native launcher was not built: no C compiler?", file=sys.stderr)
            return 1
    build_wheels(scratch / "wheels")
    env = with_env(
        base_environ(scratch, venv, base_python, uv, scratch / "wheels"),
        PYTHONDONTWRITEBYTECODE=None,
        UVLAUNCH_UV=None,  # the uv beside uvlaunch, as in a plain install
    )
    # The Python launcher as `uvlaunch` on PATH, for the same shebang.
    py_bin = scratch / "python-launcher"
    py_bin.mkdir()
    (py_bin / "uvlaunch").symlink_to(bin_dir / "uvlaunch-py")
    env_py = with_env(env, PATH=os.pathsep.join([str(py_bin), env["PATH"]]))
    env_uv = with_env(env, PATH=os.pathsep.join([str(scratch / "uv-bin"), env["PATH"]]))
    (scratch / "uv-bin").mkdir()
    (scratch / "uv-bin" / "uv").symlink_to(uv)

    scripts = scratch / "scripts"
    script = write_script(scripts / "warm.py", SCRIPT)
    uv_script = write_script(
        scripts / "warm_uv.py", SCRIPT.replace("-S uvlaunch", "-S uv run --script", 1)
    )
    os.chdir(scratch)
    print("* creating the environments", file=sys.stderr)
    run([script], env=env)
    run([uv_script], env=env_uv)
    run([script], env=env_py)  # both launchers warm on the same record
    py_env = env_python(str(bin_dir / "uvlaunch"), script, env)
    commands_bin = scratch / "commands-bin"
    run(
        [str(bin_dir / "uvlaunch"), "install", script],
        env=with_env(env, UVLAUNCH_BIN_DIR=str(commands_bin)),
    )
    installed = str(commands_bin / "warm")
    named = write_script(scripts / "named.py", SCRIPT)
    second = scripts / "second.py"
    os.link(named, second)
    fresh = write_script(scripts / "fresh.py", SCRIPT)
    for path in (named, str(second), str(second), fresh, fresh):
        run([path], env=env)
    links = iter(range(10**6))

    def new_name() -> list[str]:
        link = scripts / f"fresh-{next(links)}.py"
        os.link(fresh, link)
        return [str(link)]

    runner = Runner(scratch)
    commands = [
        ("uvlaunch shebang, native launcher", [script], env),
        ("uvlaunch shebang, Python launcher", [script], env_py),
        ("uv run --script shebang", [uv_script], env_uv),
        ("env python on the script (floor)", [py_env, script], env),
        ("installed command, native launcher", [installed], env),
        ("second name (hard link), native launcher", [str(second)], env),
        ("a new name's first start, native launcher", [], env),
    ]
    print(f"* {rounds} rounds", file=sys.stderr)
    s = alternate(
        runner,
        commands,
        rounds,
        memory_rounds=5 if opts.quick else 21,
        before={"a new name's first start, native launcher": new_name},
        progress="warm",
    )
    floor = s["env python on the script (floor)"]
    uvrun = s["uv run --script shebang"]
    native = s["uvlaunch shebang, native launcher"]
    command = s["installed command, native launcher"]

    print(
        f"\n{machine()}; {run([base_python, '-V']).stdout.strip()}; "
        f"{run([uv, '--version']).stdout.strip()}; {rounds} rounds\n"
    )
    print("| warm start | median ms | IQR ms | x floor | x uv run | peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, _, _ in commands:
        x = s[label]
        mem = f"{x.rss_mib:.1f}" if x.rss_mib is not None else "-"
        print(
            f"| {label} | {x.ms:.1f} | {x.spread()} | {x.ms / floor.ms:.2f} | "
            f"{x.ms / uvrun.ms:.2f} | {mem} |"
        )
    targets = [
        ("native ≤ 1.15 x floor", native.ms <= 1.15 * floor.ms, native.ms / floor.ms),
        ("native ≤ 0.75 x uv run --script", native.ms <= 0.75 * uvrun.ms, native.ms / uvrun.ms),
        (
            "installed command ≤ 1.10 x shebang",
            command.ms <= 1.10 * native.ms,
            command.ms / native.ms,
        ),
    ]
    if native.rss_mib is not None and floor.rss_mib is not None:
        targets.append(
            ("native peak memory ≤ floor's", native.rss_mib <= floor.rss_mib, native.rss_mib)
        )
    print()
    for name, ok, value in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {name} ({value:.2f})")
    if opts.json:
        out = {label: {"ms": x.ms, "times": x.times, "rss_kib": x.rss} for label, x in s.items()}
        Path(opts.json).write_text(json.dumps(out, indent=1))
    return 0 if all(ok for _, ok, _ in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
