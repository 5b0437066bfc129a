"""Building environments: create, sync and rebuild for a launch.

A launch calls ``ensure`` under the environment's lock: create a missing environment,
sync one whose block or lock file changed, rebuild one that is damaged. A new
environment, and a rebuild, is a new generation built at its final path
(``envs/<name>/g<N>/``) and made current by the pointer only once it is complete
(generations.py, pointer.py), so a broken or half-built one never becomes current and a
script running in the old one keeps it. A sync changes the current generation in place,
as ``uv run`` would, its stamp removed meanwhile. ``upgrade``, ``reinstall`` and
``rollback`` (upgrade.py) build and flip generations the same way.

A first launch goes straight to uv: it checks nothing that uv checks itself (the
block's TOML and requirements, an interpreter for requires-python, uv's own version),
holds back what uv says until uv has created the environment, and only when uv fails
before that looks for the reason, to say it in one line (``complete.explain``). Everything on
that way is imported lazily or is cheap to import: see docs/performance.md.
"""

from __future__ import annotations

import os

from uvlaunch.building import compiling, complete, generations, machines, venv
from uvlaunch.errors import UvError
from uvlaunch.home import paths, pointer, stamp, store, trash
from uvlaunch.scripts.script import SPECULATE, Script
from uvlaunch.uv import calls as uv
from uvlaunch.uv import output as uvoutput

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable

    Notify = Callable[[str], None]


class Build:
    """One environment to make right for one script: what every step of it needs, made
    once per launch or command (uv's output settings included, from ``-q``/``-v``)."""

    # A plain class: dataclasses imports re and inspect (12 ms) on the launch path.
    __slots__ = ("name", "notify", "quiet", "root", "script", "uv", "verbose")

    def __init__(
        self,
        root: str,
        name: str,
        script: Script,
        uv: str,
        notify: Notify,
        *,
        quiet: int = 0,
        verbose: int = 0,
    ) -> None:
        self.root = root
        self.name = name
        self.script = script
        self.uv = uv
        self.notify = notify
        self.quiet = quiet
        self.verbose = verbose


def ensure(build: Build) -> tuple[bool, str]:
    """Make this machine's variant of the environment ``build.name`` right for its
    script; call with its lock held.

    Afterwards the variant's pointer names a complete generation (``pointer.current``).
    Returns whether the script must start through ``uv run`` (the uv binary changed),
    and the variant (machines.py).
    """
    root, name, script, uv_bin = build.root, build.name, build.script, build.uv
    invoked = script.ident.invoked
    chosen = "" if generations.is_legacy(root, name) else machines.choose(root, name)
    # None: every variant is another machine's (its interpreter is not here, or is
    # another Python now). It stays as it is, for them; this machine gets its own.
    variant = chosen or ""
    env = None if chosen is None else pointer.current(root, name, variant)
    old = None if env is None else stamp.read(paths.stamp_path(env))
    rebuild_reason = None
    action = "none"
    if generations.is_legacy(root, name):
        rebuild_reason = "it was made by an older uvlaunch, before generations"
    elif chosen is None:
        others = ", ".join(machines.describe(root, name, v) for v in pointer.variants(root, name))
        build.notify(
            f"{invoked}: building its environment for this machine's Python; "
            f"kept for the machines that have theirs: {others}"
        )
        action = "create"
    elif env is None or not os.path.isdir(env):
        action = "create"
    else:
        rebuild_reason, old = _damage(root, env, old)
        if rebuild_reason is None and old is not None and _changed(old, script):
            # An unchanged block was satisfied when it was synced; a changed one is
            # checked before anything changes, so that a bad edit keeps the environment.
            spec = script.meta().requires_python
            if spec and not complete.admits(spec, old.python):
                rebuild_reason = (
                    f"requires-python {spec!r} no longer admits its Python {old.python}"
                )
            else:
                action = "sync"
    legacy = None
    base_python: str | None = None
    if rebuild_reason is not None:
        # Never take a working environment out of use for a rebuild that cannot succeed
        # (a requires-python that no available interpreter satisfies).
        base_python = complete.find_python(script, uv_bin)
        if os.environ.get("UV_PYTHON"):
            base_python = None  # the user's choice, as on a first launch: uv reads it
        build.notify(f"rebuilding the environment of {invoked}: {rebuild_reason}")
        if generations.is_legacy(root, name):
            # Its directory becomes the one that holds generations: out of the way first.
            legacy = trash.take_out_of_use(root, name)
        action = "create"

    if action == "none":
        assert old is not None and env is not None
        uv_sig = stamp.file_signature(uv_bin)
        through_uv = old.uv != uv_bin or old.uvsig != uv_sig
        uv_version = uv.version(uv_bin) if through_uv else old.uvversion
        new = complete.fields(script, env, uv_bin, uv_version, old)
        if new != old:
            store.write_atomic(root, paths.stamp_path(env), new.encode(), durable=False)
        else:
            _touch(paths.stamp_path(env))
        return through_uv, variant

    if action == "create":
        new_env = generations.new_dir(root, name)
        try:
            uv_version = _create(build, new_env, base_python)
            complete.finish(
                root, new_env, script, uv_bin, uv_version, compile_now=not compiling.LATER
            )
        except BaseException:
            generations.discard(root, name, new_env)
            # A rebuild that fails (no Python satisfies requires-python, offline with a
            # new dependency, interrupted) must not lose the old environment.
            if legacy is not None and not os.path.lexists(paths.env_dir(root, name)):
                os.replace(legacy, paths.env_dir(root, name))
            raise
        if chosen is None:
            variant = "-" + machines.key(new_env)
        # The broken generation is no rollback: the one kept stays kept.
        generations.flip(root, name, new_env, keep_current=False, variant=variant)
        if legacy is not None:
            trash.delete_tree(legacy, within=root)
        return False, variant
    assert env is not None
    uv_version = uv.version(uv_bin)
    _sync(build, env, old)
    complete.finish(root, env, script, uv_bin, uv_version, compile_now=not compiling.LATER)
    return False, variant


def _create(build: Build, env: str, python: str | None) -> str:
    """Create the generation ``env``; returns the version of the uv that created it.

    On failure the caller discards what uv left (generations.discard).
    """
    script, uv_bin, quiet, verbose = build.script, build.uv, build.quiet, build.verbose
    held = b""
    uv_version = ""
    if script.block is None:
        # `uv sync --script` refuses a file without a block: an empty environment.
        rc = uv.create_empty(uv_bin, env, quiet=quiet, verbose=verbose)
    elif SPECULATE:
        argv = uv.sync_argv(uv_bin, script.ident.path, python=python, quiet=quiet, verbose=verbose)
        proc = uv.start(argv, uv.base_env(env), capture=True)
        pyvenv = os.path.join(env, "pyvenv.cfg")
        # A uv too old for uvlaunch may still sync: it is stopped, and named, once
        # pyvenv.cfg says which uv it is, before anything of its output is shown.
        rc, held = uvoutput.relay(
            proc,
            release_when=pyvenv,
            report=verbose > 0,
            vet=lambda: _uv_version(uv_bin, env),
        )
    else:
        uv.version(uv_bin)
        if python is None:
            python = complete.find_python(script, uv_bin)
        rc = uv.sync(uv_bin, script.ident.path, env, python=python, quiet=quiet, verbose=verbose)
    if rc == 0:
        uv_version = _uv_version(uv_bin, env)
    if rc != 0:
        if held:
            # uv's error (before it created the environment: the block, the interpreter
            # or uv itself; or after: resolving, installing), in one line: ours when we
            # can tell more, keeping uv's cause, else uv's.
            why = uvoutput.reason(held.decode("utf-8", "replace"), rc)
            explained = complete.explain(script, uv_bin, why)
            if explained is not None:
                raise explained
            raise UvError(f"{script.ident.invoked}: uv could not create the environment: {why}")
        raise UvError(
            f"{script.ident.invoked}: uv could not create the environment (exit status {rc}); "
            "see uv's message above"
        )
    return uv_version


def _uv_version(uv_bin: str, env: str) -> str:
    """The version of the uv that created ``env`` (it writes it into pyvenv.cfg), checked."""
    return uv.check_recorded(uv_bin, venv.pyvenv_value(env, "uv"))


def _sync(build: Build, env: str, old: stamp.Stamp | None) -> None:
    root, script, uv_bin = build.root, build.script, build.uv
    quiet, verbose = build.quiet, build.verbose
    stamp_file = paths.stamp_path(env)
    before = venv.site_snapshot(env)
    # Not complete while uv changes it: a launch killed mid-sync must not find it complete.
    store.remove_file(stamp_file)
    if SPECULATE:  # through the same filter as a first launch: uv run's output, not sync's
        argv = uv.sync_argv(uv_bin, script.ident.path, python=None, quiet=quiet, verbose=verbose)
        proc = uv.start(argv, uv.base_env(env), capture=True)
        rc, held = uvoutput.relay(proc, release_when=env, report=verbose > 0)
    else:
        rc = uv.sync(uv_bin, script.ident.path, env, python=None, quiet=quiet, verbose=verbose)
        held = b""
    if rc != 0:
        why = "see uv's message above"
        if held:
            why = uvoutput.reason(held.decode("utf-8", "replace"), rc)
        if old is not None and venv.site_snapshot(env) == before:
            # uv failed before touching anything (resolution fails first): the
            # environment is as it was, so it stays complete for the old block.
            store.write_atomic(root, stamp_file, old.encode())
            raise UvError(
                f"{script.ident.invoked}: uv could not sync the environment: {why}; "
                "the environment was left as it was"
            )
        raise UvError(
            f"{script.ident.invoked}: uv could not sync the environment: {why}; "
            "the next launch rebuilds it"
        )


def _damage(root: str, env: str, old: stamp.Stamp | None) -> tuple[str | None, stamp.Stamp | None]:
    """Why the environment must be rebuilt whatever its script says (or None); its stamp."""
    python = paths.env_python(env)
    # An interpreter that is not here is another machine's: machines.choose() picked
    # another variant then. One here that changed is this machine's.
    if old is not None and old.pysig != stamp.file_signature(python):
        reason = _interpreter_changed(root, env, old)
        if reason is not None:
            return reason, old
        old = stamp.read(paths.stamp_path(env))
    if not venv.is_intact(env):
        return "it was left half-built", old
    if old is None:
        # What a killed sync leaves is unknown (uv may have died halfway through a
        # package, and then refuses to sync over it): build it afresh.
        return "its last sync did not finish", old
    return None, old


def _changed(old: stamp.Stamp, script: Script) -> bool:
    """Whether the script's block or lock file changed since the stamp ``old``, or what
    the block's relative paths mean (the script moved to another folder: relative.py)."""
    return (
        old.block != script.block
        or old.lockhash != script.lock_hash
        or old.resolved != script.resolved()
    )


def _interpreter_changed(root: str, env: str, old: stamp.Stamp) -> str | None:
    """After the file behind the environment's ``python`` changed: why to rebuild, if so.

    The same Python version (a patch release installed over it, a copy) keeps the
    environment, and the stamp is brought up to date; another version (a version-neutral
    link that now leads to a newer Python) would run with the wrong site-packages.
    """
    python = paths.env_python(env)
    now = venv.running_version(python)
    built = old.python
    if now is not None and now.split(".")[:2] == built.split(".")[:2]:
        new = old.replace(pysig=stamp.file_signature(python), python=now)
        store.write_atomic(root, paths.stamp_path(env), new.encode())
        return None
    shown = "cannot be started" if now is None else f"is now Python {now}"
    return f"its Python interpreter {_readlink(python)} {shown} (it was built with {built})"


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return path


def _touch(path: str) -> None:
    try:
        os.utime(path)
    except OSError:
        pass
