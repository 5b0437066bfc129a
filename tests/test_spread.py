"""``list`` and ``gc`` read a large home on every core (spread.py): the same answers, in
the same order, whatever a worker does.

The first tests are quick (no uv): spread itself, with workers that fail, die or send
back what cannot be read. The last one drives the real ``uvlaunch list`` and ``gc`` over
a home large enough to be spread.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from conftest import Sandbox

from uvlaunch.home import paths, records, stamp
from uvlaunch.manage import spread

PARENT = os.getpid()
ITEMS = list(range(spread.MIN_ITEMS * 5 + 7))  # uneven chunks


def square(n: int) -> int:
    return n * n


def test_the_results_are_the_loops_in_order() -> None:
    assert spread.spread(square, ITEMS) == [n * n for n in ITEMS]


def test_workers_really_run_when_it_pays() -> None:
    if spread.cores() < 2:
        pytest.skip("one core: spread takes the plain loop")
    pids = spread.spread(lambda _: os.getpid(), ITEMS)
    assert pids[0] == PARENT and len(set(pids)) >= 2


def test_small_lists_stay_in_the_parent() -> None:
    few = ITEMS[: spread.MIN_ITEMS - 1]
    assert set(spread.spread(lambda _: os.getpid(), few)) == {PARENT}


def _in_a_worker() -> bool:
    return os.getpid() != PARENT


def test_a_worker_that_raises_costs_only_time() -> None:
    def func(n: int) -> int:
        if _in_a_worker():
            raise RuntimeError("worker trouble")
        return n * n

    assert spread.spread(func, ITEMS) == [n * n for n in ITEMS]


def test_a_killed_worker_costs_only_time() -> None:
    def func(n: int) -> int:
        if _in_a_worker() and n % 7 == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return n * n

    assert spread.spread(func, ITEMS) == [n * n for n in ITEMS]


def test_a_result_that_cannot_be_sent_back_is_computed_by_the_parent() -> None:
    results = spread.spread(lambda n: lambda: n, ITEMS)  # lambdas do not pickle
    assert [f() for f in results] == ITEMS


def _fill(sandbox: Sandbox, count: int) -> tuple[set[str], set[str]]:
    """``count`` environments like the launched one, written as uvlaunch writes them (a
    record, a current pointer, a stamp); every third one's script deleted afterwards.
    Returns the names of the live ones and of the orphaned ones."""
    home = str(sandbox.home)
    (first,) = sandbox.env_dirs()
    g1 = first / os.readlink(first / "current")
    template = stamp.read(paths.stamp_path(str(g1)))
    assert template is not None
    live, orphaned = {first.name}, set()
    for i in range(count):
        path = sandbox.scripts / f"tool{i:04d}.py"
        path.write_text("print('hi')\n")
        st = path.stat()
        name = f"tool{i:04d}-{i:010x}"
        env = paths.generation_dir(home, name, "g1")
        os.makedirs(os.path.join(env, "bin"))
        os.symlink("g1", paths.current_link(home, name))
        os.symlink(os.readlink(g1 / "bin" / "python"), paths.env_python(env))
        (Path(env) / "pyvenv.cfg").write_bytes((g1 / "pyvenv.cfg").read_bytes())
        records.write_record(home, records.Record(name, str(path), st.st_dev, st.st_ino, 0.0))
        fields = template.replace(script=str(path), dev=str(st.st_dev), ino=str(st.st_ino))
        Path(paths.stamp_path(env)).write_bytes(fields.encode())
        if i % 3 == 2:
            path.unlink()
            orphaned.add(name)
        else:
            live.add(name)
    return live, orphaned


def test_list_and_gc_over_a_home_large_enough_to_spread(sandbox: Sandbox) -> None:
    script = sandbox.script("first.py", deps=())
    assert sandbox.run(str(script)).returncode == 0
    live, orphaned = _fill(sandbox, spread.MIN_ITEMS * 2)

    listed = sandbox.run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)
    names = [e["name"] for e in shown]
    assert names == sorted(live | orphaned)  # all of them, in order
    states = {e["name"]: e["state"] for e in shown}
    assert {n for n, s in states.items() if s == "live"} == live
    assert {n for n, s in states.items() if s == "orphaned"} == orphaned

    collected = sandbox.run("gc", "--json")
    assert collected.returncode == 0, collected.stderr
    removed = {r["name"] for r in json.loads(collected.stdout)["removed"]}
    assert removed == orphaned
    after = json.loads(sandbox.run("list", "--json").stdout)
    assert [e["name"] for e in after] == sorted(live)
    assert sandbox.run(str(script)).returncode == 0
