"""Work a launch leaves to a detached, idle-priority process once it has gone on.

The background compiler (compiling.py) is one; deleting the generation a block edit
replaced is another: unlinking the 6,000 files of pandas, typer and rich takes 150 to
200 ms that the edited script need not wait for. The generation is out of use before
(renamed into the trash under its use lock, generations.py), so its deletion can wait;
whatever a killed deleter leaves in the trash, gc deletes.
"""

from __future__ import annotations

import os
import sys

from uvlaunch.building import bytecode
from uvlaunch.home import trash

# Fork a detached process where there is fork; elsewhere the work is done at once.
LATER = hasattr(os, "fork") and sys.platform != "win32"


def delete_later(root: str, trashed: list[str]) -> None:
    """Delete the trash entries ``trashed`` of the home ``root``: in a detached process
    where there is fork, else now. Never fails: what stays, gc deletes."""
    if not trashed:
        return
    detached = False
    if LATER:
        try:
            detached = fork_detached()
        except OSError:
            pass  # no process to spare (EAGAIN): now, then
        else:
            if not detached:
                return
    try:
        for path in trashed:
            try:
                trash.delete_tree(path, within=root)
            except (OSError, ValueError):
                pass  # what stays in the trash, gc deletes
    finally:
        if detached:
            os._exit(0)


def fork_detached() -> bool:
    """Fork a detached, idle-priority process: True in it (which must end in
    ``os._exit``), False here, at once (it is not our child: nothing waits for it)."""
    pid = os.fork()
    if pid != 0:
        bytecode.reap(pid)  # the middle child exits at once
        return False
    try:  # pragma: no cover - runs in the forked children
        os.setsid()  # out of the terminal's process group: Ctrl-C to the script spares it
        if os.fork() != 0:
            os._exit(0)
        detach()
    except BaseException:
        os._exit(1)
    return True


def detach() -> None:  # pragma: no cover - runs in detached processes
    """Hold nothing of the launch (its terminal, pipes and locks); yield the CPU to it."""
    # Hold nothing of the launch: not its terminal or pipes (a caller reading the
    # script's output until EOF must not wait for the compiler), not its locks.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        open_fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = list(range(3, 256))
    for fd in open_fds:
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass
    try:
        # setsid() put this process in an autogroup of its own (Linux), and the
        # scheduler shares the CPU fairly between autogroups before it looks at
        # SCHED_IDLE or nice inside each: without this, the compiler took half a core
        # from the script it runs beside, and from the next first launches too.
        with open("/proc/self/autogroup", "w") as f:
            f.write("19")
    except OSError:
        pass  # no autogroups (cgroups decide, or not Linux): SCHED_IDLE does it
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        pass
    try:
        os.nice(19)
    except OSError:
        pass
