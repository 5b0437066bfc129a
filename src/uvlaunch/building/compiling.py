"""When and how environments are byte-compiled: after the script has started, at idle
priority, into ``.pyc`` files shared between environments.

uv does not byte-compile, and with PYTHONDONTWRITEBYTECODE set Python never writes
``.pyc`` files either, so every start would compile what it imports again. Compiling a
whole environment costs seconds for real packages (2,600 files for pandas, typer and
rich), so a first launch does not wait for it: ``compile_after_start`` forks a
detached process, just before the launch ``exec``s the script, that compiles at idle
priority (``SCHED_IDLE``, nice 19) while the script runs. Every ``.pyc`` is written to a
temporary file and renamed into place, so a start never reads half of one; a compiler
killed part-way leaves fewer ``.pyc`` files, nothing worse; the environment was stamped
complete before, so nothing is rebuilt because of it. When it is done, it writes
``uvlaunch-compiled`` into the environment (the stamp's sync time and the sizes measured
then), atomically and without any lock: it never makes a launch, gc or an upgrade wait,
and never rewrites the stamp.

The ``.pyc`` files are kept once in the home's ``pyc/`` store and hard-linked into
each environment (bytecode.py), so three environments with pandas hold its compiled
files once.
"""

from __future__ import annotations

import os
import sys

from uvlaunch.building import background, bytecode, venv
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import lookup, paths, sharers, stamp, store
from uvlaunch.home.env import Env

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable

# Fork a background compiler where there is fork; elsewhere compile before starting.
LATER = hasattr(os, "fork") and sys.platform != "win32"


def enabled() -> bool:
    """Whether to byte-compile environments (on unless UVLAUNCH_COMPILE_BYTECODE=0)."""
    value = os.environ.get("UVLAUNCH_COMPILE_BYTECODE", "1").lower()
    return value not in ("0", "false", "no", "off")


def compile_environment(root: str, env: str) -> None:
    """Byte-compile what is not yet compiled (and shared) in the environment's site-packages."""
    dirs = venv.site_packages(env)
    if not dirs:
        return
    shared = paths.pyc_store(root)
    if _same_python(env):
        bytecode.compile_dirs(dirs, store=shared)  # in this process and forks of it
        return
    import subprocess

    # Another Python's .pyc files differ: let that Python run the same code.
    subprocess.run(
        [paths.env_python(env), "-I", bytecode.__file__, "--store", shared, *dirs],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        check=False,
    )


def _same_python(env: str) -> bool:
    """Whether the environment's Python writes the same .pyc files as this one."""
    version = venv.python_version(env).split(".")
    implementation = venv.pyvenv_value(env, "implementation").lower()
    return (
        implementation == sys.implementation.name
        and len(version) >= 2
        and all(part.isdigit() for part in version)  # a final release, as below
        and (int(version[0]), int(version[1])) == sys.version_info[:2]
        and sys.version_info.releaselevel == "final"  # magic numbers change only before
    )


def compile_now(root: str, env: str, notify: Callable[[str], None]) -> None:
    """Compile the generation ``env`` here and now, if it still wants it (``sync``).

    Says so first through ``notify``: for real packages it takes seconds.
    """
    fields = stamp.read(paths.stamp_path(env))
    if needed(env, fields):
        assert fields is not None
        notify(f"byte-compiling {env}")
        compile_environment(root, env)
        _record(root, env, fields.synced)


def needed(env: str, fields: stamp.Stamp | None) -> bool:
    """Whether the environment ``env``, stamped ``fields``, still wants compiling."""
    if not enabled() or fields is None or fields.compiled == "1":
        return False
    return done(env, fields) is None


def done(env: str, fields: stamp.Stamp) -> tuple[int, int] | None:
    """(size, size to free) as measured when the compiler finished this sync, else None."""
    try:
        synced, size, own = stamp.read_bytes(paths.compiled_path(env))[:128].decode("ascii").split()
    except (OSError, ValueError):
        return None
    if synced != fields.synced or not (size.isdigit() and own.isdigit()):
        return None
    return int(size), int(own)


def compile_after_start(root: str, env: str, then: Callable[[str], None] | None = None) -> None:
    """Start a detached, idle-priority compiler for the generation ``env``, and return.

    ``then``: called with ``env`` in the compiler once it has compiled, before it notes
    that it has (the next edit's generation made ahead: spare.py)."""
    fields = stamp.read(paths.stamp_path(env))
    if not needed(env, fields):
        if not enabled():
            # No compiler to note the script's birth time, which tells it moved from a
            # new file given its inode (samefile.py): noted now, in this launch. It
            # never fails one: without it, a move that also edits is a new script.
            try:
                lookup.note_birth(Env(root, os.path.basename(os.path.dirname(env))))
            except (OSError, UvlaunchError):
                pass
        return
    assert fields is not None
    if not background.fork_detached():
        return
    try:  # pragma: no cover - runs in the detached compiler, which never returns
        # The environment as it is now, held by its descriptor: the note that it is
        # compiled goes into this directory or nowhere, never into whatever is at its
        # path later (removed and rebuilt, or a symlink put there meanwhile).
        held = os.open(env, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        # The launch wrote its record, index entries and stamp without waiting for
        # the disk (store.write_atomic); here, beside the script, they are made durable.
        lookup.note_birth(Env(root, os.path.basename(os.path.dirname(env))))
        store.make_durable(durable_after_launch(root, env))
        if not _shares_compiled(root, env):
            compile_environment(root, env)
        if then is not None:
            then(env)  # before the note: "compiled" means all done
        _record(root, env, fields.synced, held)
    finally:
        os._exit(0)


def _shares_compiled(root: str, env: str) -> bool:
    """Whether ``env`` is thin (thin.py) on a generation whose packages are compiled:
    then there is nothing to compile (walking pandas's 2,600 files to see it costs 0.1 s
    of the machine per copy). A thin one on a source not compiled yet compiles the
    source's packages, as its own would (the same files, through its link)."""
    found = sharers.source_of(env)
    if found is None:
        return False
    source = paths.generation_dir(root, *found)
    fields = stamp.read(paths.stamp_path(source))
    return fields is not None and (fields.compiled == "1" or done(source, fields) is not None)


def durable_after_launch(root: str, env: str) -> list[str]:
    """What a launch wrote without fsync: the generation's stamp, the record, the index."""
    out = [paths.stamp_path(env)]
    fields = stamp.read(out[0])
    name = os.path.basename(os.path.dirname(env))
    out.append(paths.record_path(root, name))
    if fields is not None and fields.dev.isdigit() and fields.ino.isdigit():
        out.append(paths.inode_key_path(root, int(fields.dev), int(fields.ino)))
    return out


def _record(root: str, env: str, synced: str, held: int | None = None) -> None:
    """Note that the environment synced at ``synced`` is compiled, with its sizes now.

    ``held``: a descriptor of the environment's directory, to write the note into.
    """
    total, own = venv.usage(env)
    data = f"{synced} {total} {own}\n".encode()
    if held is None:
        try:
            store.write_atomic(root, paths.compiled_path(env), data)
        except UvlaunchError:
            pass  # removed or rebuilt meanwhile: the next launch that syncs compiles again
        return
    tmp = os.path.join(paths.tmp_dir(root), f"compiled.{store.random_suffix(16)}")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        name = os.path.basename(paths.compiled_path(env))
        os.replace(tmp, name, dst_dir_fd=held)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # what stays, gc deletes (tmp/ is swept)
