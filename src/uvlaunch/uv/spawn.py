"""Starting uv so that it never outlives the uvlaunch that started it.

On Linux, uv is forked and exec'd with a parent-death signal: if uvlaunch dies, by
any signal, SIGKILL included, the kernel kills uv too. And uv inherits the
descriptors of the locks uvlaunch holds (locks.HELD), so an environment's lock is not
free until uv has exited as well: no later launch can rebuild and stamp an
environment while a uv from an earlier attempt could still write into it.

Elsewhere (macOS, the BSDs), ``posix_spawn`` starts uv as before, without either.
``os.posix_spawn`` and ``fork`` cost nothing to import; ``subprocess`` costs 9 ms.
"""

from __future__ import annotations

import os
import sys

from uvlaunch.home import locks, trust

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
SIGKILL = 9


def spawn(argv: list[str], environ: dict[str, str], *, stderr: int | None = None) -> int:
    """Start ``argv`` (its stderr on ``stderr`` if given); returns its pid; OSError if it cannot."""
    import _signal  # type: ignore[import-not-found]  # signal itself imports enum: 4 ms

    # What subprocess's restore_signals does: Python ignores these, children should not.
    defaults = (_signal.SIGPIPE, _signal.SIGXFSZ)
    umask = trust.child_umask()  # uv builds environments: never writable by others
    if not sys.platform.startswith("linux"):
        actions = [(os.POSIX_SPAWN_DUP2, stderr, 2)] if stderr is not None else []
        own = os.umask(umask)  # posix_spawn has no umask of its own to give
        try:
            return os.posix_spawn(argv[0], argv, environ, file_actions=actions, setsigdef=defaults)
        finally:
            os.umask(own)
    prctl = _prctl()
    parent = os.getpid()
    errors_read, errors_write = os.pipe()  # close-on-exec: empty when the exec worked
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, which execs or exits
        code = 0
        try:
            prctl(PR_SET_PDEATHSIG, SIGKILL)
            if os.getppid() != parent:  # uvlaunch died before the signal was armed
                os._exit(1)
            for fd in locks.HELD:
                os.set_inheritable(fd, True)
            if stderr is not None:
                os.dup2(stderr, 2)
            for sig in defaults:
                _signal.signal(sig, _signal.SIG_DFL)
            os.umask(umask)
            os.execve(argv[0], argv, environ)
        except OSError as e:
            code = e.errno or 1
        finally:
            os.write(errors_write, str(code).encode())
            os._exit(127)
    os.close(errors_write)
    try:
        failed = os.read(errors_read, 16)
    finally:
        os.close(errors_read)
    if failed:
        os.waitpid(pid, 0)
        errno = int(failed) if failed.isdigit() else 0
        raise OSError(errno, os.strerror(errno))
    return pid


def child_setup() -> None:
    """For ``subprocess``'s ``preexec_fn``: the same death signal, umask and inherited locks."""
    if sys.platform.startswith("linux"):
        _prctl()(PR_SET_PDEATHSIG, SIGKILL)
    os.umask(trust.child_umask())
    for fd in locks.HELD:
        os.set_inheritable(fd, True)


def _prctl() -> Callable[[int, int], int]:
    import ctypes  # 3 ms, paid only when uv is started

    prctl: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


class Running:
    """A uv process started by ``start``; ``output`` reads its stderr when captured."""

    __slots__ = ("output", "pid", "popen")

    def __init__(self, pid: int, output: int | None, popen: object = None) -> None:
        self.pid = pid
        self.output = output
        self.popen = popen


def wait(proc: Running) -> int:
    """Wait for ``proc``; its exit status, or minus the signal that killed it."""
    if proc.popen is not None:
        return int(proc.popen.wait())  # type: ignore[attr-defined]
    while True:
        try:
            _, status = os.waitpid(proc.pid, 0)
        except ChildProcessError:
            return -1
        except KeyboardInterrupt:
            continue  # uv got the same SIGINT from the terminal: wait for it to stop
        return os.waitstatus_to_exitcode(status)
