"""Reading many environments at once: ``list`` and ``gc`` over a large home on every core.

Inspecting an environment only reads (its directory, pointers, stamp, record and script's
inode; inventory.py), about a hundred microseconds of Python each, so 10,000 of them
take a second on one core. ``spread`` splits such a list between forked workers, one per
core this process may use (at most ``WORKERS``), and gathers their results in order
through pipes (pickled). Anything that goes wrong in a worker (an exception, a kill, a
result that cannot be read back) costs only time: the parent does that part itself.
Small lists, a single core and platforms without ``fork`` take the plain loop.

Workers only read: every decision and every write (gc's removals, under each
environment's lock and after a second look) stays in the parent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from uvlaunch.building.bytecode import cores

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 4
# Below this, a fork and the pickling cost more than they save (about 10 ms, against
# about 0.1 ms an item).
MIN_ITEMS = 400


def spread(func: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[func(item) for item in items]``, computed by forked workers when that pays."""
    workers = min(WORKERS, cores(), len(items) // MIN_ITEMS)
    if workers < 2 or not hasattr(os, "fork") or sys.platform == "win32":
        return [func(item) for item in items]
    size = -(-len(items) // workers)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    started = [_start(func, chunk) for chunk in chunks[1:]]
    results = [func(item) for item in chunks[0]]  # the parent's share, meanwhile
    for chunk, worker in zip(chunks[1:], started, strict=True):
        got: list[R] | None = _finish(worker)
        results += got if got is not None else [func(item) for item in chunk]
    return results


Worker = tuple[int, int] | None  # (pid, the read end of its pipe); None: not started


def _start(func: Callable[[T], R], chunk: Sequence[T]) -> Worker:
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # the worker: compute, send, and leave without running anything else
        status = 1
        try:
            os.close(read_fd)
            import pickle

            data = pickle.dumps([func(item) for item in chunk], pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
            status = 0
        except BaseException:  # the parent does this part itself
            pass
        finally:
            os._exit(status)  # no atexit handlers, no flushing the parent's buffers
    os.close(write_fd)
    return pid, read_fd


def _finish(worker: Worker) -> list[R] | None:
    """The worker's results, or None when it did not deliver them whole."""
    if worker is None:
        return None
    pid, read_fd = worker
    chunks = []
    try:
        while True:
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        chunks = []
    finally:
        os.close(read_fd)
    try:
        _, status = os.waitpid(pid, 0)
    except (OSError, ChildProcessError):
        status = 1
    if status != 0 or not chunks:
        return None
    import pickle

    try:
        results: list[R] = pickle.loads(b"".join(chunks))
    except Exception:  # damaged: the parent does this part itself
        return None
    return results
