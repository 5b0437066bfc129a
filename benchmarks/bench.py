#!/usr/bin/env python3
"""Benchmark uvlaunch against ``uv run --script``: warm and cold starts, 10,000 environments.

One command, from the repository's root::

    python3 benchmarks/bench.py            # full run, about 1 minute on 2 cores
    python3 benchmarks/bench.py --quick    # fewer rounds, about 35 seconds

Everything happens in a scratch directory of its own (deleted at the end unless
``--keep``): a virtual environment with an upgraded pip and uvlaunch installed from a
copy of this repository (not editable), its own UVLAUNCH_HOME and UV_CACHE_DIR, and
offline wheels built here. Commands are timed side by side: every round runs each
command of a group once, in an order rotated from round to round, and the figures
are medians over the rounds. Peak memory is GNU time's ``%M`` for the command, in
rounds of its own: the largest single process (for a process that ``exec``s, the
largest of its images); see ``Runner``.

Uses the standard library only, and no part of uvlaunch itself except through the
commands it installs (and one helper run in the scratch venv that writes the
synthetic environments with uvlaunch's own path and stamp functions).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from benchlib import (
    GNU_TIME,
    CommandFailed,
    Prep,
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
# The wheel builder is the test suite's: one copy, in tests/wheels.py.
sys.path.insert(0, str(REPO / "tests"))
from wheels import build_wheel  # noqa: E402

MODULES = 30  # modules in the benchmark package

# -- the offline wheels -------------------------------------------------------------


def module_source(i: int) -> str:
    """One module of realistic code (~170 lines): classes, parsing, formatting."""
    return f'''"""Part {i} of the benchmark package: records, a registry, parsing and reports."""

from __future__ import annotations

import os
import sys

__all__ = ["DEFAULTS", "Record", "Registry", "parse", "render", "summarize"]

DEFAULTS = {{"name": "part{i}", "width": {40 + i}, "precision": {i % 5 + 1}, "enabled": True}}
LIMITS = tuple(range({i}, {i} + 16))
UNITS = {{"k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3, "u": 1e-6}}


class ParseError(ValueError):
    """A line of input that cannot be read."""

    def __init__(self, lineno: int, message: str) -> None:
        super().__init__(f"line {{lineno}}: {{message}}")
        self.lineno = lineno


class Record:
    """One parsed row: a key, its values and a set of tags."""

    __slots__ = ("key", "tags", "values")

    def __init__(self, key: str, values: list[float], tags: frozenset[str] = frozenset()) -> None:
        self.key = key
        self.values = list(values)
        self.tags = tags

    def __repr__(self) -> str:
        return f"Record({{self.key!r}}, {{self.values!r}}, tags={{sorted(self.tags)!r}})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (self.key, self.values, self.tags) == (other.key, other.values, other.tags)

    def __hash__(self) -> int:
        return hash((self.key, tuple(self.values), self.tags))

    def total(self) -> float:
        return sum(self.values)

    def mean(self) -> float:
        return self.total() / len(self.values) if self.values else 0.0

    def scaled(self, factor: float) -> Record:
        return Record(self.key, [v * factor for v in self.values], self.tags)

    def clipped(self, low: float, high: float) -> Record:
        return Record(self.key, [min(max(v, low), high) for v in self.values], self.tags)

    def to_dict(self) -> dict[str, object]:
        return {{"key": self.key, "values": list(self.values), "tags": sorted(self.tags)}}


class Registry:
    """Records by key, with lookups by tag."""

    def __init__(self, records: list[Record] | None = None) -> None:
        self._by_key: dict[str, Record] = {{}}
        self._by_tag: dict[str, set[str]] = {{}}
        for record in records or ():
            self.register(record)

    def register(self, record: Record) -> None:
        if record.key in self._by_key:
            raise KeyError(f"duplicate key {{record.key!r}}")
        self._by_key[record.key] = record
        for tag in record.tags:
            self._by_tag.setdefault(tag, set()).add(record.key)

    def lookup(self, key: str) -> Record | None:
        return self._by_key.get(key)

    def tagged(self, tag: str) -> list[Record]:
        return [self._by_key[k] for k in sorted(self._by_tag.get(tag, ()))]

    def __iter__(self):
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def merge(self, other: Registry) -> Registry:
        merged = Registry(list(self))
        for record in other:
            if merged.lookup(record.key) is None:
                merged.register(record)
        return merged

    def filter(self, predicate) -> Registry:
        return Registry([r for r in self if predicate(r)])


def parse_number(text: str, lineno: int = 0) -> float:
    text = text.strip()
    factor = 1.0
    if text and text[-1] in UNITS:
        factor = UNITS[text[-1]]
        text = text[:-1]
    try:
        return float(text) * factor
    except ValueError:
        raise ParseError(lineno, f"not a number: {{text!r}}") from None


def parse(text: str, *, sep: str = ",") -> list[Record]:
    """Read ``key[:tag...], value, value, ...`` lines; blank lines and comments are skipped."""
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, _, rest = line.partition(sep)
        key, *tags = head.split(":")
        if not key:
            raise ParseError(lineno, "empty key")
        values = [parse_number(v, lineno) for v in rest.split(sep) if v.strip()]
        records.append(Record(key, values, frozenset(t for t in tags if t)))
    return records


def render(records: list[Record], width: int = DEFAULTS["width"]) -> str:
    """A fixed-width table of the records and their totals."""
    precision = DEFAULTS["precision"]
    lines = []
    for record in records:
        cells = " ".join(f"{{v:>8.{{precision}}f}}" for v in record.values)
        line = f"{{record.key:<12}} {{cells}} | {{record.total():.{{precision}}f}}"
        lines.append(line[:width])
    return "\\n".join(lines)


def summarize(records: list[Record]) -> dict[str, float]:
    """Count, total, mean, smallest and largest value over all records."""
    values = [v for r in records for v in r.values]
    if not values:
        return {{"count": 0, "total": 0.0, "mean": 0.0, "min": 0.0, "max": 0.0}}
    total = sum(values)
    return {{
        "count": len(values),
        "total": total,
        "mean": total / len(values),
        "min": min(values),
        "max": max(values),
    }}


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.lower() in ("1", "true", "yes", "on")


def debug(message: str) -> None:
    if env_flag("BENCHPKG_DEBUG"):
        print(f"[part{i}] {{message}}", file=sys.stderr)
'''


def package_init() -> str:
    imports = "\n".join(f"from benchpkg import part{i:02d}" for i in range(MODULES))
    parts = ", ".join(f"part{i:02d}" for i in range(MODULES))
    return f'''"""A package of {MODULES} modules, all imported at once, as many packages do."""

from __future__ import annotations

{imports}

PARTS = ({parts},)
SAMPLE = "alpha:x, 1, 2k, 3\\nbeta:y, 4, 5m\\n# comment\\ngamma, 7, 8, 9\\n"


def summary(args: list[str]) -> str:
    """One line that touches every part."""
    total = 0.0
    for part in PARTS:
        total += part.summarize(part.parse(SAMPLE))["total"]
    return f"{{len(PARTS)}} parts, total {{total:.1f}}, args {{args!r}}"
'''


def build_wheels(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    files = {"benchpkg/__init__.py": package_init()}
    for i in range(MODULES):
        files[f"benchpkg/part{i:02d}.py"] = module_source(i)
    build_wheel(outdir, "benchpkg", "1.0", files=files)


SCRIPT = '''#!/usr/bin/env -S uvlaunch
# /// script
# requires-python = ">=3.10"
# dependencies = ["benchpkg"]
# ///
"""A small script: use the package, print one line."""

import sys

import benchpkg

print(benchpkg.summary(sys.argv[1:]))
'''

TINY_SCRIPT = """#!/usr/bin/env -S uvlaunch
# /// script
# dependencies = []
# ///
print("tool {i}")
"""

# Run in the scratch venv: writes synthetic environments with uvlaunch's own functions.
SYNTHESIZE = r"""
import json, os, sys, time
from uvlaunch.home import paths, records, stamp, store
from uvlaunch.scripts import identity

home, scripts, template, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tiny = sys.argv[5]
fields0 = stamp.read(paths.stamp_path(template))
assert fields0 is not None, "the template environment has no stamp"
link = os.readlink(paths.env_python(template))
with open(os.path.join(template, "pyvenv.cfg"), encoding="utf-8") as f:
    cfg = f.read()
site = None
for dirpath, dirnames, _ in os.walk(os.path.join(template, "lib")):
    if os.path.basename(dirpath) == "site-packages":
        site = os.path.relpath(dirpath, template)
        break
os.makedirs(scripts, exist_ok=True)
now = time.time()

def path_key(home, path):
    from uvlaunch.home import index
    if hasattr(index, "path_key_path"):
        return index.path_key_path(home, path)
    import hashlib  # the layout of docs/how-it-works.md
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:40]
    return os.path.join(paths.index_dir(home), f"path-{digest}")

def put(path, data):
    with open(path, "wb") as f:
        f.write(data)

for i in range(count):
    path = os.path.join(scripts, f"tool{i:05d}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(tiny.replace("{i}", str(i)))
    ident = identity.resolve(path)
    name = records.new_name(home, ident)
    env = paths.generation_dir(home, name, "g1")  # envs/NAME/g1, current (pointer.py)
    os.makedirs(os.path.join(env, "bin"))
    os.symlink("g1", paths.current_link(home, name))
    os.makedirs(os.path.join(env, site))
    os.symlink(link, paths.env_python(env))
    put(os.path.join(env, "pyvenv.cfg"), cfg.encode())
    record = {"version": 1, "name": name, "script": ident.path, "dev": ident.dev,
              "ino": ident.ino, "created": now - i}
    put(paths.record_path(home, name), json.dumps(record).encode())
    put(paths.inode_key_path(home, ident.dev, ident.ino), name.encode())
    put(path_key(home, ident.path), name.encode())
    fields = fields0.replace(script=ident.path, dev=str(ident.dev), ino=str(ident.ino),
                             block="dependencies = []\n", synced=str(now - i), size="40960")
    put(paths.stamp_path(env), fields.encode())
    if i % 10 == 9:
        os.unlink(path)  # every tenth script is gone: something for gc to find
print(count)
"""

# -- the benchmark ------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (about a minute)")
    parser.add_argument(
        "--rounds", type=int, help="rounds of each warm group (default 100; quick 20)"
    )
    parser.add_argument(
        "--cold-rounds", type=int, help="rounds of cold starts (default 15; quick 4)"
    )
    parser.add_argument("--envs", type=int, default=10_000, help="managed environments (10,000)")
    parser.add_argument("--python", default=real_python(), help="interpreter for the scratch venv")
    parser.add_argument("--uv", help="uv binary to compare with and use (default: the venv's)")
    parser.add_argument("--scratch", help="scratch directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument(
        "--envs-only",
        action="store_true",
        help="only gc --dry-run and list over the environments (no warm or cold starts)",
    )
    opts = parser.parse_args()
    warm_rounds = opts.rounds or (20 if opts.quick else 100)
    cold_rounds = opts.cold_rounds or (4 if opts.quick else 15)
    meta_rounds = 2 if opts.quick else 5

    results = in_scratch(
        opts.scratch,
        "uvlaunch-bench-",
        lambda scratch: bench(opts, scratch, warm_rounds, cold_rounds, meta_rounds),
        keep=opts.keep,
        json_file=opts.json,
    )
    return 0 if all(t["ok"] is not False for t in results["targets"]) else 1


def bench(
    opts: argparse.Namespace, scratch: Path, warm_rounds: int, cold_rounds: int, meta_rounds: int
) -> dict[str, object]:
    base_python = os.path.realpath(opts.python)
    venv = make_venv(scratch, base_python, REPO)
    bin_dir = venv / "bin"
    uvlaunch = str(bin_dir / "uvlaunch")
    venv_python = str(bin_dir / "python")
    uv = os.path.realpath(opts.uv) if opts.uv else str(bin_dir / "uv")
    build_wheels(scratch / "wheels")
    env = base_environ(scratch, venv, base_python, uv, scratch / "wheels")
    neutral = with_env(env, PYTHONDONTWRITEBYTECODE=None)
    nowrite = with_env(env, PYTHONDONTWRITEBYTECODE="1")
    home_n, home_cold = scratch / "home-n", scratch / "home-cold"
    in_n = with_env(neutral, UVLAUNCH_HOME=str(home_n))
    scripts = scratch / "scripts"
    os.chdir(scratch)
    runner = Runner(scratch)
    uv_version = run([uv, "--version"]).stdout.strip()
    py_version = run([base_python, "-V"]).stdout.strip()

    print("* creating the environments (uv's package cache gets warm here)", file=sys.stderr)
    warm = write_script(scripts / "warm.py", SCRIPT)
    # The bytecode lever: scripts that only ever run with PYTHONDONTWRITEBYTECODE=1,
    # so that neither uv's environment nor an uncompiled uvlaunch one has .pyc files.
    warm_nw = write_script(scripts / "nowrite.py", SCRIPT)
    warm_nw_nc = write_script(scripts / "nowrite_nocompile.py", SCRIPT)
    for argv, e in [
        ([uvlaunch, warm], neutral),
        ([uvlaunch, warm], in_n),
        ([uv, "run", "--script", warm], neutral),
        ([uvlaunch, warm_nw], nowrite),
        ([uvlaunch, warm_nw_nc], with_env(nowrite, UVLAUNCH_COMPILE_BYTECODE="0")),
        ([uv, "run", "--script", warm_nw], nowrite),
    ]:
        run(argv, env=e)
    py_env = env_python(uvlaunch, warm, neutral)
    py_env_nw = env_python(uvlaunch, warm_nw, neutral)
    uv_envs = sorted((scratch / "uv-cache" / "environments-v2").glob("warm-*"))
    if len(uv_envs) != 1:
        raise CommandFailed(f"expected one uv environment for warm.py, found {uv_envs}")
    py_uv_env = str(uv_envs[0] / "bin" / "python")
    for script, e in [(warm, neutral), (warm, in_n), (warm_nw, nowrite), (warm_nw_nc, nowrite)]:
        check_fast_path(uvlaunch, script, e)

    n_synth = opts.envs - 1
    print(f"* writing {n_synth:,} synthetic environments into a second home", file=sys.stderr)
    t0 = time.perf_counter()
    run(
        [
            venv_python,
            "-c",
            SYNTHESIZE,
            str(home_n),
            str(scratch / "scripts-n"),
            os.path.dirname(os.path.dirname(env_python(uvlaunch, warm, in_n))),
            str(n_synth),
            TINY_SCRIPT,
        ],
        env=neutral,
    )
    synth_seconds = time.perf_counter() - t0
    check_fast_path(uvlaunch, warm, in_n)

    results: dict[str, object] = {
        "machine": machine(),
        "python": f"{py_version} ({base_python})",
        "uv": f"{uv_version} ({uv})",
        "rounds": {"warm": warm_rounds, "cold": cold_rounds, "gc/list": meta_rounds},
    }
    if opts.envs_only:
        meta = gc_and_list(runner, uvlaunch, in_n, opts.envs, meta_rounds)
        print(f"\nMachine: {results['machine']}\nPython:  {results['python']}")
        results["targets"] = []
        envs_report(results, meta, opts.envs, results["targets"])  # type: ignore[arg-type]
        return results

    # -- warm starts, PYTHONDONTWRITEBYTECODE unset: the targets -------------------------
    print("* warm starts", file=sys.stderr)
    warm_cmds = [
        ("uvlaunch", [uvlaunch, warm], neutral),
        ("uv run --script", [uv, "run", "--script", warm], neutral),
        ("env python (bare)", [py_env, warm], neutral),
        ("uv's env python (bare)", [py_uv_env, warm], neutral),
        ("python -c pass", [venv_python, "-c", "pass"], neutral),
        (f"uvlaunch, {opts.envs:,} envs", [uvlaunch, warm], in_n),
    ]
    mem_rounds = 3 if opts.quick else 5
    ws = alternate(runner, warm_cmds, warm_rounds, memory_rounds=mem_rounds, progress="warm")

    # -- the bytecode lever, warm: PYTHONDONTWRITEBYTECODE=1 -----------------------------
    print("* warm starts with PYTHONDONTWRITEBYTECODE=1", file=sys.stderr)
    nw_cmds = [
        ("uvlaunch (compiled at sync)", [uvlaunch, warm_nw], nowrite),
        ("uvlaunch (UVLAUNCH_COMPILE_BYTECODE=0)", [uvlaunch, warm_nw_nc], nowrite),
        ("uv run --script", [uv, "run", "--script", warm_nw], nowrite),
        ("env python (bare)", [py_env_nw, warm_nw], nowrite),
    ]
    nws = alternate(
        runner, nw_cmds, warm_rounds, memory_rounds=mem_rounds, progress="warm, no .pyc written"
    )

    # -- cold starts ------------------------------------------------------------------
    print("* cold starts (uv's package cache warm, environment new)", file=sys.stderr)
    counter = iter(range(10**9))
    envs_v2 = scratch / "uv-cache" / "environments-v2"

    def fresh_uvlaunch(tag: str) -> Prep:
        def prep() -> list[str]:
            path = scratch / "cold" / f"{tag}{next(counter)}" / "cold.py"
            return [uvlaunch, write_script(path, SCRIPT)]

        return prep

    # The floor under any launcher that syncs an environment and then starts Python in
    # it: `uv sync --active --script` and the environment's python, run from /bin/sh.
    floor_sh = (
        'VIRTUAL_ENV="$1" "$2" sync --active --script "$3" --link-mode hardlink $4 '
        '&& exec "$1/bin/python" "$3"'
    )

    def fresh_floor(flags: str) -> Prep:
        def prep() -> list[str]:
            d = scratch / "cold" / f"f{next(counter)}"
            path = write_script(d / "cold.py", SCRIPT)
            return ["/bin/sh", "-c", floor_sh, "sh", str(d / "venv"), uv, path, flags]

        return prep

    def fresh_uv() -> list[str]:
        # A new path (uv keys script environments by path) and no environment left over.
        for entry in envs_v2.glob("*"):
            shutil.rmtree(entry, ignore_errors=True)
        path = write_script(scratch / "cold" / f"uv{next(counter)}" / "cold.py", SCRIPT)
        return [uv, "run", "--script", path]

    cold_n = with_env(neutral, UVLAUNCH_HOME=str(home_cold))
    cold_w = with_env(nowrite, UVLAUNCH_HOME=str(home_cold))
    cold_cmds = [
        ("uvlaunch (compile, default)", [], cold_n),
        (
            "uvlaunch (UVLAUNCH_COMPILE_BYTECODE=0)",
            [],
            with_env(cold_n, UVLAUNCH_COMPILE_BYTECODE="0"),
        ),
        ("uv run --script", [], cold_n),
        ("uvlaunch (compile), PYTHONDONTWRITEBYTECODE=1", [], cold_w),
        ("uv run --script, PYTHONDONTWRITEBYTECODE=1", [], cold_w),
        ("floor: uv sync + env python", [], cold_n),
        ("floor: uv sync --compile-bytecode + env python", [], cold_n),
    ]
    before = {
        "uvlaunch (compile, default)": fresh_uvlaunch("c"),
        "uvlaunch (UVLAUNCH_COMPILE_BYTECODE=0)": fresh_uvlaunch("n"),
        "uv run --script": fresh_uv,
        "uvlaunch (compile), PYTHONDONTWRITEBYTECODE=1": fresh_uvlaunch("w"),
        "uv run --script, PYTHONDONTWRITEBYTECODE=1": fresh_uv,
        "floor: uv sync + env python": fresh_floor(""),
        "floor: uv sync --compile-bytecode + env python": fresh_floor("--compile-bytecode"),
    }
    cs = alternate(
        runner,
        cold_cmds,
        cold_rounds,
        memory_rounds=1 if opts.quick else 2,
        before=before,
        progress="cold",
    )
    shutil.rmtree(home_cold, ignore_errors=True)
    shutil.rmtree(scratch / "cold", ignore_errors=True)

    meta = gc_and_list(runner, uvlaunch, in_n, opts.envs, meta_rounds)

    return report(
        results,
        ws,
        nws,
        cs,
        meta,
        opts.envs,
        n_synth,
        synth_seconds,
    )


def gc_and_list(
    runner: Runner, uvlaunch: str, env: dict[str, str], n_envs: int, rounds: int
) -> dict[str, Sample | str]:
    """`gc --dry-run` and `list` over the home of ``n_envs`` environments (``env``)."""
    print(f"* gc --dry-run and list over {n_envs:,} environments", file=sys.stderr)
    meta: dict[str, Sample | str] = {}
    for label, argv in [
        ("uvlaunch gc --dry-run", [uvlaunch, "gc", "--dry-run"]),
        ("uvlaunch list", [uvlaunch, "list"]),
    ]:
        try:
            runner.once(argv, env)
        except CommandFailed as e:
            first = str(e).strip().splitlines()
            meta[label] = "skipped: " + " / ".join(first[-2:])[:200]
            continue
        meta[label] = alternate(runner, [(label, argv, env)], rounds)[label]
    return meta


# -- the report ---------------------------------------------------------------------


# gc and list read every environment's record and stamp: under a second for 10,000.
ENVS_TARGET_S = 1.0


def envs_report(
    results: dict[str, object],
    meta: dict[str, Sample | str],
    n_envs: int,
    targets: list[dict[str, object]],
) -> None:
    """Print and record the gc/list figures and their targets."""
    print(f"\nOver {n_envs:,} environments")
    results["meta"] = {}
    for label, s in meta.items():
        if isinstance(s, str):
            print(f"  {label:<48} {s}")
            results["meta"][label] = s  # type: ignore[index]
        else:
            print(f"  {label:<48} {s.ms:>10.1f} ms (median of {len(s.times)})")
            results["meta"][label] = round(s.ms, 1)  # type: ignore[index]
    for label in ("uvlaunch gc --dry-run", "uvlaunch list"):
        s = meta[label]
        name = f"{label.removeprefix('uvlaunch ')} over {n_envs:,} envs < {ENVS_TARGET_S:g} s"
        if isinstance(s, str):
            ok, shown = None, s
        else:
            ok, shown = s.ms < ENVS_TARGET_S * 1000, f"{s.ms / 1000:.2f} s"
        targets.append({"target": name, "measured": shown, "ok": ok})
        print(f"  {'SKIP' if ok is None else 'PASS' if ok else 'FAIL':<5} {name:<46} {shown}")


def report(
    results: dict[str, object],
    ws: dict[str, Sample],
    nws: dict[str, Sample],
    cs: dict[str, Sample],
    meta: dict[str, Sample | str],
    n_envs: int,
    n_synth: int,
    synth_seconds: float,
) -> dict[str, object]:
    def table(title: str, samples: dict[str, Sample], ref: str | None) -> list[dict[str, object]]:
        print(f"\n{title}")
        print(f"  {'command':<48} {'median ms':>10} {'IQR ms':>13} {'ratio':>7} {'peak MiB':>9}")
        rows = []
        for s in samples.values():
            ratio = s.ms / samples[ref].ms if ref else None
            shown = f"{ratio:.2f}x" if ratio is not None else ""
            mib = s.rss_mib
            peak = f"{mib:.1f}" if mib is not None else "n/a"
            print(f"  {s.label:<48} {s.ms:>10.1f} {s.spread():>13} {shown:>7} {peak:>9}")
            rows.append(
                {
                    "command": s.label,
                    "median_ms": round(s.ms, 2),
                    "iqr_ms": s.spread(),
                    "ratio": round(ratio, 3) if ratio is not None else None,
                    "peak_mib": round(mib, 1) if mib is not None else None,
                    "n": len(s.times),
                }
            )
        return rows

    print(
        f"\nMachine: {results['machine']}\nPython:  {results['python']}\nuv:      {results['uv']}"
    )
    print(f"Rounds:  {results['rounds']}  (commands alternate within each round; medians)")
    print(
        f"The {n_envs:,}-environment home holds the measured script's real environment plus "
        f"{n_synth:,} synthetic ones (record, index entries, stamp and a venv skeleton "
        f"each, written in {synth_seconds:.1f} s; every tenth one's script deleted)."
    )
    results["warm"] = table(
        "Warm start (PYTHONDONTWRITEBYTECODE unset), ratio to uv run", ws, "uv run --script"
    )
    results["warm_nowrite"] = table(
        "Warm start with PYTHONDONTWRITEBYTECODE=1 (the bytecode lever), ratio to uv run",
        nws,
        "uv run --script",
    )
    results["cold"] = table(
        "Cold start (first launch; uv's package cache warm), ratio to uv run", cs, "uv run --script"
    )
    ul, uvr, bare, pas = (
        ws[k] for k in ("uvlaunch", "uv run --script", "env python (bare)", "python -c pass")
    )
    many = ws[f"uvlaunch, {n_envs:,} envs"]
    targets: list[dict[str, object]] = []

    def target(name: str, shown: str, ok: bool | None) -> None:
        verdict = "PASS" if ok else ("FAIL" if ok is False else "SKIP")
        targets.append({"target": name, "measured": shown, "ok": ok})
        print(f"  {verdict:<5} {name:<46} {shown}")

    print("\nTargets")
    r = ul.ms / uvr.ms
    target("warm <= 1.0x uv run (aim 0.9)", f"{r:.2f}x ({ul.ms:.1f} vs {uvr.ms:.1f} ms)", r <= 1.0)
    over = ul.ms - bare.ms
    target(
        "warm - bare <= python -c pass + 2 ms",
        f"{over:.1f} ms <= {pas.ms + 2:.1f} ms (fast-path work {over - pas.ms:+.1f} ms)",
        over <= pas.ms + 2,
    )
    cu, cv = cs["uvlaunch (compile, default)"], cs["uv run --script"]
    r = cu.ms / cv.ms
    target("cold <= 1.1x uv run", f"{r:.2f}x ({cu.ms:.0f} vs {cv.ms:.0f} ms)", r <= 1.1)
    r = many.ms / ul.ms
    target(
        f"warm, {n_envs:,} envs <= 1.05x 1 env",
        f"{r:.3f}x ({many.ms:.1f} vs {ul.ms:.1f} ms)",
        r <= 1.05,
    )
    envs_report(results, meta, n_envs, targets)
    child = ws["uv's env python (bare)"].rss_mib
    if ul.rss_mib is None or uvr.rss_mib is None or child is None:
        target("warm peak memory < uv run's", f"skipped: needs GNU time at {GNU_TIME}", None)
    else:
        target(
            "warm peak memory < uv run's",
            f"{ul.rss_mib:.1f} MiB vs {uvr.rss_mib:.1f} MiB (uv's python child alone, run "
            f"bare: {child:.1f} MiB)",
            ul.rss_mib < uvr.rss_mib,
        )
    results["targets"] = targets
    return results


if __name__ == "__main__":
    sys.exit(main())
