"""How a launch proceeds when the fast path cannot take it.

Resolve the script, find or register its environment, and under the environment's
lock let envbuild.py create, repair, rebuild or sync it as needed; then start the
script in the current generation, replacing this process. A launch that has to wait
for that lock (another launch building the environment, an upgrade building its next
generation) says so on stderr before it waits.
"""

from __future__ import annotations

import os
import sys

from uvlaunch.building import compiling, envbuild, machines
from uvlaunch.errors import CommandError, HomeError, UvlaunchError
from uvlaunch.home import locks, lookup, paths, records, stamp, store, trust, warm
from uvlaunch.home.env import Env
from uvlaunch.home.names import lock_file
from uvlaunch.launching import fastpath
from uvlaunch.launching.fastpath import Retargeted as Retargeted
from uvlaunch.scripts.identity import ScriptIdentity
from uvlaunch.scripts.script import Script, beside_is_private, read_script
from uvlaunch.uv import calls as uv

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from uvlaunch.building.envbuild import Notify


class Prepared:
    """A script whose environment is ready to start it."""

    # Plain classes here and below: dataclasses imports re and inspect (12 ms).
    __slots__ = ("env", "name", "python", "read_only", "root", "script", "through_uv", "use", "uv")

    def __init__(
        self,
        *,
        root: str,
        script: ScriptIdentity,
        name: str,
        env: str,
        python: str,
        uv: str,
        through_uv: bool,
        use: locks.Lock,
        read_only: bool = False,
    ) -> None:
        self.root = root
        self.script = script
        self.name = name
        self.env = env
        self.python = python
        self.uv = uv
        self.through_uv = through_uv  # the uv binary changed since the last sync
        self.use = use  # the generation's use lock, held (shared) until the script exits
        self.read_only = read_only  # from a home that cannot be written: nothing to compile

    def release(self) -> None:
        """For a prepare that starts nothing (``sync``): let gc and remove in again."""
        self.use.release()


# How long a launch waits for another's build before it says so, when nobody watches
# (cron mails each line): most such waits are a parallel first launch's, and short.
QUIET_WAIT = 1.0


def _on_a_terminal() -> bool:
    try:
        return os.isatty(2)
    except OSError:
        return False


def prepare(
    invoked: str,
    *,
    quiet: int = 0,
    verbose: int = 0,
    notify: Notify,
    launching: bool = True,
    read_only: bool = False,
) -> Prepared:
    """Make the environment of ``invoked`` ready, creating or syncing it if needed.

    ``launching``: something is about to run in it, which counts as its last launch;
    else (``sync``) its last launch stays what it was. ``read_only``: from a home that
    cannot be written, start what needs no write (readonly.py).
    """
    before = warm.stat_before_reading(invoked)
    script = read_script(invoked)
    uv_bin = uv.find_uv()
    try:
        root = store.open_home()
    except HomeError as e:
        return _from_read_only(script, uv_bin, str(e), may_start=launching and read_only)
    invoked = script.ident.invoked

    def index_held(path: str) -> None:
        notify(f"{invoked}: waiting for another process, which holds {path}")

    rec = lookup.register(root, script.ident, waiting=index_held)
    handle = Env(root, rec.name)
    # Checked before anything is created inside it (a planted or foreign envs/NAME).
    handle.check()

    def waiting(holder: str) -> None:
        notify(f"{invoked}: waiting for {holder}")

    lock = handle.hold(
        doing="is creating or syncing its environment",
        waiting=None if quiet else waiting,
        patience=0 if _on_a_terminal() else QUIET_WAIT,
    )
    try:
        kept = None
        if not launching:
            before_env = handle.with_variant(machines.choose(handle) or "").current()
            if before_env is not None:
                kept = stamp.launched_ns(paths.stamp_path(before_env))
        # Check again under the lock: another launch may have done the work meanwhile.
        try:
            build = envbuild.Build(handle, script, uv_bin, notify, quiet=quiet, verbose=verbose)
            through_uv, handle = envbuild.ensure(build)
        except BaseException:
            if not handle.exists():
                # A first launch that failed leaves nothing: no record, no index entry.
                forget(handle)
            raise
        env = handle.current()
        assert env is not None, "ensure leaves a current generation"
        if not launching:
            # ensure() stamps or touches the generation as for a launch: undo that.
            stamp.set_launched(paths.stamp_path(env), kept)
        problem = trust.env_problem(handle.dir, env)
        if problem is not None:
            raise HomeError(problem)  # what another user can change is never started
        # For the next start, native or not, by any name the file is recorded by (in any
        # view: the record's signature pins the file, whatever name leads to it).
        known = (rec.script, *rec.names, *(n for v in rec.views.values() for n in v))
        warm.confirm(root, rec.name, env, before, handle.variant, tuple(dict.fromkeys(known)))
        # Taken before the environment lock is let go: gc and remove need the generation's
        # lock to delete it, so it cannot go between this check and the script's exit.
        use = store.use_lock(env)
        use.acquire()
        # What other machines see of this use, where the lock may not reach them.
        machines.mark_used(env)
    finally:
        lock.release()
    return Prepared(
        root=root,
        script=script.ident,
        name=rec.name,
        env=env,
        python=paths.env_python(env),
        uv=uv_bin,
        through_uv=through_uv,
        use=use,
    )


def _from_read_only(script: Script, uv_bin: str, problem: str, *, may_start: bool) -> Prepared:
    """``prepare`` from a home that cannot be written (``problem`` says why)."""
    from uvlaunch.launching import readonly

    root = paths.home()
    if not may_start:
        raise HomeError(readonly.explain(root, script, problem))
    held = readonly.prepare(root, script, uv_bin, problem)  # HomeError: why it must write
    return Prepared(
        root=root,
        script=script.ident,
        name=held.name,
        env=held.generation,
        python=paths.env_python(held.generation),
        uv=uv_bin,
        through_uv=held.through_uv,
        use=held.use,
        read_only=True,
    )


def forget(env: Env) -> None:
    """Drop the record, index entries and lock files of ``env``, which has no directory.

    Call with the environment's lock held (its file is deleted while held: locks.py).
    """
    try:
        records.forget(env)
        store.remove_file(env.lock_path())
    except (OSError, UvlaunchError):
        pass  # what stays, gc removes


def start(
    prepared: Prepared,
    args: list[str],
    *,
    through_uv: bool,
    quiet: int,
    verbose: int,
    run_path: str | None = None,
) -> NoReturn:
    """Start the script in its prepared environment; never returns.

    ``run_path``: the file to run, when it is not the one the environment belongs to
    (a script read from a pipe, piped.py).
    """
    invoked = run_path or prepared.script.invoked
    if compiling.LATER and not prepared.read_only:
        # Just before the script starts: the compiler runs beside it, at idle priority.
        compiling.compile_after_start(prepared.root, prepared.env, _spare_maker(prepared))
    # `uv run` reads the lock file beside the script by name: not where another user
    # could put one there after uvlaunch's check (script.ForUv). Started directly there,
    # in the environment just checked, as the fast path would.
    if (through_uv or prepared.through_uv) and (
        run_path is not None or beside_is_private(prepared.script.path)
    ):
        target = run_path or _uv_script_arg(prepared.script)
        argv = uv.run_argv(prepared.uv, target, args, quiet=quiet, verbose=verbose)
        environ = uv.run_env(prepared.env)
        if sys.platform == "win32":
            import subprocess

            sys.exit(subprocess.run(argv, env=environ, check=False).returncode)
        fastpath.exec_holding(prepared.use, prepared.uv, argv, environ)
    environ = fastpath.child_environ(prepared.env, prepared.uv)
    checked = prepared.script.path if run_path is None else os.path.realpath(run_path)
    fastpath.exec_script(prepared.python, invoked, args, environ, prepared.use, checked=checked)


def _spare_maker(prepared: Prepared) -> Callable[[str], None]:
    """What the background compiler does once done: after an edit, make the next edit's
    generation ahead (building/spare.py, imported there only, off the launch path)."""

    def make_spare(env: str) -> None:
        from uvlaunch.building import spare

        if spare.wanted(env):
            spare.make(prepared.root, env, prepared.uv)

    return make_spare


def _uv_script_arg(ident: ScriptIdentity) -> str:
    """The path to give ``uv run --script``: as invoked, unless uv would read a wrong lock."""
    # uv reads the lock file next to the path it is given, while the script's lock file
    # is the one beside the real file. A symlink with a lock file of its own beside it
    # would make uv sync the environment from that one: give uv the real path instead.
    beside = lock_file(ident.invoked)
    if (
        ident.invoked != ident.path
        and os.path.lexists(beside)
        and os.path.realpath(beside) != lock_file(ident.path)
    ):
        return ident.path
    return ident.invoked


def exec_in(prepared: Prepared, argv: list[str]) -> NoReturn:
    """Replace this process with ``argv`` run inside the prepared environment."""
    if compiling.LATER and not prepared.read_only:
        compiling.compile_after_start(prepared.root, prepared.env, _spare_maker(prepared))
    environ = fastpath.child_environ(prepared.env, prepared.uv)
    environ["VIRTUAL_ENV"] = _stable(prepared)
    # The environment is the command's own, for uv too: `uv pip` follows UV_PYTHON and
    # UV_SYSTEM_PYTHON before VIRTUAL_ENV, and would work on the user's interpreter.
    environ.pop("UV_PYTHON", None)
    environ.pop("UV_SYSTEM_PYTHON", None)
    # uvlaunch's own uv on PATH too (after the environment's bin), for `uv pip list`.
    bin_dir = paths.env_bin(prepared.env)
    rest = environ["PATH"][len(bin_dir) :]
    environ["PATH"] = bin_dir + os.pathsep + os.path.dirname(prepared.uv) + rest
    import shutil

    # An empty PATH entry (`PATH=$PATH:`, often an accident) is not the current
    # directory here, unlike in a shell; an explicit `.` is (docs/commands.md).
    lookup = os.pathsep.join(e for e in environ["PATH"].split(os.pathsep) if e)
    program = shutil.which(argv[0], path=lookup)
    if program is None and os.sep not in argv[0] and not (os.altsep and os.altsep in argv[0]):
        # A bare name is looked up on PATH only, never in the current directory.
        raise CommandError(f"{argv[0]}: command not found", 127)
    program = program or argv[0]
    if sys.platform == "win32":
        import subprocess

        sys.exit(subprocess.run([program, *argv[1:]], env=environ, check=False).returncode)
    try:
        fastpath.exec_holding(prepared.use, program, argv, environ)
    except OSError as e:
        # 127 and 126, as shells and env(1) exit: not found (a missing interpreter too),
        # or found but not executable.
        status = 127 if isinstance(e, FileNotFoundError) else 126
        raise CommandError(f"{argv[0]}: cannot run the command: {e.strerror}", status) from None


def _stable(prepared: Prepared) -> str:
    """The path through the pointer that names the prepared generation now (what
    ``where`` prints), else the generation itself.

    For ``exec``'s VIRTUAL_ENV: a shell started there still finds the environment after
    an upgrade and gc. Its PATH keeps the generation, whose use lock the command holds,
    so that what it runs keeps the generation it started in.
    """
    handle = Env(prepared.root, prepared.name)
    for variant in handle.variants():
        seen = handle.with_variant(variant)
        if seen.current() == prepared.env:
            return seen.stable()
    return prepared.env
