"""The warm fast path: start the script with its environment's Python, skipping uv.

Taken only when nothing that decides the environment changed since its last sync:
the same file (device, inode, path), the same metadata block, the same lock file, the
same uv binary, a complete current generation whose interpreter is present. Anything
else returns to the caller, which goes through the slow path (launch.py) and uv.

This module and what it imports load on every warm start, so they use nothing beyond
``os`` and ``sys``: no click, packaging, filelock, json, re or dataclasses.
"""

from __future__ import annotations

import os
import sys

from uvlaunch.contract import TRUTHY
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import index, locks, paths, pointer, stamp, trust, usage, warm, way
from uvlaunch.scripts.metadata import find_block

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 7 ms here
if TYPE_CHECKING:
    from typing import NoReturn


class Retargeted(UvlaunchError):
    """The path given now leads to another file than the one checked (a flipped symlink)."""


def disabled() -> bool:
    return os.environ.get("UVLAUNCH_NO_FAST_PATH", "").lower() in TRUTHY


def try_exec(invoked: str, args: list[str]) -> None:
    """Start ``invoked`` directly if its environment is warm; return if it is not."""
    if disabled() or sys.platform == "win32":
        return
    try:
        _try_exec(invoked, args)
    except (OSError, ValueError, UvlaunchError):
        # Anything odd (a race with gc, a damaged file) is the slow path's to handle.
        return


class _Start:
    """The script to start: as invoked, resolved, its stat (taken before it is read)."""

    __slots__ = ("args", "invoked", "path", "st")

    def __init__(self, invoked: str, args: list[str]) -> None:
        self.invoked = invoked
        self.args = args
        self.path = os.path.realpath(invoked)
        self.st = os.stat(self.path)  # before the script is read: see warm.confirm


def _try_exec(invoked: str, args: list[str]) -> None:
    start = _Start(invoked, args)
    root = paths.home()
    home_st = os.stat(root)
    if home_st.st_uid != os.geteuid() or home_st.st_mode & 0o022:
        return  # the slow path refuses such a home with a message
    if trust.home_problem(root) is not None or way.walk_problem(root) is not None:
        return  # likewise for its directories, and for the way to it
    # The warm record, as the native launcher reads it; when it does not match (an edit
    # below the block, a touch), the stamp decides, and a right environment gets a new
    # record, so that the next start is native again.
    st = start.st
    record = warm.read(root, st.st_dev, st.st_ino)
    known = record  # the names it gives the file, when it is about the same environment
    if record is not None and warm.matches(root, record, start.path, st):
        name, env, variant = record.name, record.env, warm.variant_of(record)
    else:
        variant = ""
        record = None
        found_name = index.read_index(paths.inode_key_path(root, st.st_dev, st.st_ino))
        if found_name is None:
            return
        name = found_name
        found = pointer.current(root, name)
        if found is None:
            return
        env = found
    if trust.env_problem(paths.env_dir(root, name), env) is not None:
        return
    # Held from before the checks until the script exits (the descriptor survives the
    # exec): gc and remove cannot delete the generation from under it meanwhile.
    use = locks.Lock(paths.generation_lock_path(env), shared=True)
    if not use.acquire():
        return
    try:
        # Under the lock: an upgrade may have flipped the pointer since it was read (the
        # record then names the generation before), and only a generation that is not
        # current can be deleted; the slow path finds the current one.
        if pointer.current(root, name, variant) != env:
            return
        if record is not None:
            _exec_warm(root, record, start, use)
        else:
            names = known.scripts if known is not None and known.name == name else ()
            _check_and_exec(root, name, env, start, use, names)
    finally:
        use.release()  # reached only when the script was not started


def _exec_warm(root: str, record: warm.Warm, start: _Start, use: locks.Lock) -> None:
    stamp_file = paths.stamp_path(record.env)
    if not stamp.is_complete(stamp_file):
        return
    if stamp.file_signature(record.python) != record.python_sig:
        return  # gone, or another interpreter behind the same path: the slow path decides
    _touch(stamp_file, root, record.name, record.pointer)
    environ = child_environ(record.env, record.uv)
    exec_script(record.python, start.invoked, start.args, environ, use, checked=start.path)


def _check_and_exec(
    root: str, name: str, env: str, start: _Start, use: locks.Lock, names: tuple[str, ...]
) -> None:
    """Start the script after comparing its block with the stamp's.

    ``names``: the names the file is recorded by, from a warm record that no longer
    matches (an edit, a touch, a new link), else none known but the stamp's.
    """
    stamp_file = paths.stamp_path(env)
    fields = stamp.read(stamp_file)
    if fields is None:
        return
    st, path = start.st, start.path
    if not fields.is_about(st):
        return
    names = names or (paths.from_stored(fields.script),)
    recorded = names[0]
    if fields.dev != str(st.st_dev) and recorded != path:
        return  # another device is the same file (another NFS client) at its path only
    # A name not recorded yet (a new link), or a move, needs the slow path to record it;
    # another recorded name is this file only while the first still leads to it.
    if path not in names or (path != recorded and not _same_file(recorded, st)):
        return
    uv = fields.uv
    if not warm.same_inputs(path, lock_sig=fields.lock, uv=uv, uv_sig=fields.uvsig):
        return
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    if find_block(text, start.invoked) != fields.block:
        return  # an edit of the block (None on both sides: a script without one)
    python = paths.env_python(env)
    if stamp.file_signature(python) != fields.pysig or not os.path.exists(python):
        return
    record = warm.from_stamp(name, env, st, fields, scripts=names)
    if record is not None:
        warm.write(root, st.st_dev, st.st_ino, record)
    _touch(stamp_file, root, name, pointer.CURRENT)
    exec_script(python, start.invoked, start.args, child_environ(env, uv), use, checked=path)


def _same_file(other: str, st: os.stat_result) -> bool:
    try:
        found = os.stat(other)
    except OSError:
        return False
    return (found.st_dev, found.st_ino) == (st.st_dev, st.st_ino)


def _touch(stamp_file: str, root: str, name: str, which: str) -> None:
    try:
        os.utime(stamp_file)  # "last launched", for `list` and `gc --unused-for`
    except OSError:
        # A read-only home: the use goes to the state directory, which gc reads too.
        usage.record(root, name, which)


def child_environ(env: str, uv: str) -> dict[str, str]:
    """What ``uv run`` sets for the script it starts, applied to the current environment.

    Checked against uv 0.13 by tests/test_fastpath.py: uv sets VIRTUAL_ENV, puts the
    environment's bin first on PATH (``bin:`` when PATH is set but empty, ``bin`` when
    it is unset), sets UV to its own binary and counts UV_RUN_RECURSION_DEPTH up.
    """
    child = dict(os.environ)
    child["VIRTUAL_ENV"] = env
    old_path = child.get("PATH")
    bin_dir = paths.env_bin(env)
    child["PATH"] = bin_dir if old_path is None else bin_dir + os.pathsep + old_path
    child["UV"] = uv
    try:
        depth = int(child.get("UV_RUN_RECURSION_DEPTH", "0"))
    except ValueError:
        depth = 0
    child["UV_RUN_RECURSION_DEPTH"] = str(depth + 1)
    return child


def exec_script(
    python: str,
    invoked: str,
    args: list[str],
    environ: dict[str, str],
    use: locks.Lock,
    *,
    checked: str,
) -> NoReturn:
    """Replace this process with the script (POSIX); on Windows, run it and pass its status.

    ``checked``: the resolved path whose environment this is. Python opens ``invoked``
    itself, after the exec: if a symlink on the way was retargeted since it was checked
    (a deploy flipping ``current``), Retargeted is raised instead, and the caller starts
    over. What remains is the moment between this check and Python's open, as under
    ``uv run``. The use lock ``use`` passes to the script, which holds it until it exits.
    """
    argv = [python, invoked, *args]
    if os.path.realpath(invoked) != checked:
        raise Retargeted(f"{invoked}: led to another file while it was being launched")
    if sys.platform == "win32":
        import subprocess

        sys.exit(subprocess.run(argv, env=environ, check=False).returncode)
    exec_holding(use, python, argv, environ)


def exec_holding(
    use: locks.Lock, program: str, argv: list[str], environ: dict[str, str]
) -> NoReturn:
    """``os.execve`` with the use lock's descriptor inherited; on failure, released again."""
    fd = use.detach()
    trust.user_umask()  # the script's umask is the user's, not uvlaunch's private one
    try:
        os.execve(program, argv, environ)
    except BaseException:
        trust.private_umask()
        if fd is not None:
            os.close(fd)
        raise
