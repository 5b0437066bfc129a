"""Locks between processes (locks.py): flock taken directly, compatible with filelock."""

from __future__ import annotations

import os
import signal
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import filelock
import pytest
from conftest import Background, in_background

from uvlaunch.home.locks import Attempt, Lock

Holder = tuple[str, Background]

HOLDER = """\
import sys
from uvlaunch.home.locks import Lock
lock = Lock(sys.argv[1])
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Holder]:
    """Start a process holding the lock at tmp_path/x.lock; yields (path, process)."""
    path = str(tmp_path / "x.lock")
    with in_background([sys.executable, "-c", HOLDER, path], ready="held") as proc:
        yield path, proc


def test_another_process_holding_it_excludes_this_one(holder: Holder) -> None:
    path, proc = holder
    with Attempt(path) as taken:
        assert not taken
    assert Lock(path).acquire(blocking=False) is False
    proc.finish()  # the holder reads EOF and exits
    with Attempt(path) as taken:
        assert taken
    lock = Lock(path)
    assert lock.acquire(blocking=False) is True
    lock.release()


def test_the_lock_dies_with_its_holder(holder: Holder) -> None:
    path, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.finish()
    with Attempt(path) as taken:
        assert taken


def test_filelock_and_uvlaunch_exclude_each_other(tmp_path: Path) -> None:
    path = str(tmp_path / "x.lock")
    theirs = filelock.FileLock(path)
    with theirs, Attempt(path) as taken:
        assert not taken
    with Lock(path), pytest.raises(filelock.Timeout):
        filelock.FileLock(path).acquire(timeout=0)
    with filelock.FileLock(path).acquire(timeout=0):
        pass  # free again after both released


def test_held_within_the_block_and_released_after(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with Lock(str(path)):
        assert Lock(str(path)).acquire(blocking=False) is False
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = Lock(str(path))
    assert second.acquire(blocking=False) is True
    second.release()
    second.release()  # releasing twice is harmless
