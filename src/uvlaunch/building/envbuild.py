"""Building environments: create, sync and rebuild for a launch.

A launch calls ``ensure`` under the environment's lock: create a missing environment,
sync one whose block or lock file changed, rebuild one that is damaged. A new
environment, and a rebuild, is a new generation built at its final path
(``envs/<name>/g<N>/``) and made current by the pointer only once it is complete
(generations.py, pointer.py), so a broken or half-built one never becomes current and a
script running in the old one keeps it. A block edit (or a changed
lock file) is a new generation too, built beside the current one from uv's cache and
flipped to, like ``upgrade`` and ``reinstall`` (upgrade.py): a generation is never
changed once a script may run in it.

A first launch goes straight to uv: it checks nothing that uv checks itself (the
block's TOML and requirements, an interpreter for requires-python, uv's own version),
holds back what uv says until uv has created the environment, and only when uv fails
before that looks for the reason, to say it in one line (``complete.explain``). Everything on
that way is imported lazily or is cheap to import: see docs/performance.md.
"""

from __future__ import annotations

import os
import time

from uvlaunch.building import (
    beside,
    claims,
    compiling,
    complete,
    generations,
    machines,
    plan,
    spare,
    venv,
)
from uvlaunch.building import facts as facts_of
from uvlaunch.errors import UvError
from uvlaunch.home import paths, stamp, store, trash
from uvlaunch.home.env import Env
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
    __slots__ = ("env", "notify", "quiet", "script", "uv", "verbose")

    def __init__(
        self,
        env: Env,
        script: Script,
        uv: str,
        notify: Notify,
        *,
        quiet: int = 0,
        verbose: int = 0,
    ) -> None:
        self.env = env
        self.script = script
        self.uv = uv
        self.notify = notify
        self.quiet = quiet
        self.verbose = verbose


def ensure(build: Build) -> tuple[bool, Env]:
    """Make this machine's variant of the environment ``build.env`` right for its
    script; call with its lock held.

    Afterwards the variant's pointer names a complete generation (``Env.current``).
    Returns whether the script must start through ``uv run`` (the uv binary changed),
    and the environment seen through this machine's variant (machines.py).

    A build also takes the environment's claim, which reaches other machines where its
    lock may not; a launch that finds another machine's claim waits, then looks again
    (claims.py).
    """
    base, script = build.env, build.script
    waited = 0.0
    while True:
        facts, old = facts_of.gather(base, script)
        if not plan.decide(facts).builds:
            return _carry_out(build, facts, old)
        claim = claims.take(base)
        if claim is not None:
            try:
                # Again under the claim: the machine that had it may have built it.
                facts, old = facts_of.gather(base, script)
                return _carry_out(build, facts, old)
            except BaseException:
                claim.release()
                claim = None
                try:
                    os.rmdir(base.dir)  # a first build that failed leaves nothing
                except OSError:
                    pass
                raise
            finally:
                if claim is not None:
                    claim.release()
        started = time.monotonic()
        went = claims.wait(base, build.notify, script.ident.invoked, waited=waited)
        waited += time.monotonic() - started
        if not went:
            # Past the deadline: a generation of its own beside the claimant's.
            return _carry_out(build, facts, old)


def _carry_out(build: Build, facts: plan.Facts, old: stamp.Stamp | None) -> tuple[bool, Env]:
    """Do what ``plan.decide`` says for ``facts``; what ``ensure`` returns."""
    base, script = build.env, build.script
    chosen = facts.chosen
    env = base.with_variant(chosen or "")
    current = env.current()
    todo = plan.decide(facts)
    if todo.action == plan.KEEP:
        assert old is not None and current is not None
        return _keep(build, current, old), env
    if todo.action == plan.EDIT:
        assert current is not None
        _edit(build, env, current)
        return False, env
    invoked = script.ident.invoked
    if todo.other_machines:
        others = ", ".join(machines.describe(base.with_variant(v)) for v in base.variants())
        build.notify(
            f"{invoked}: building its environment for this machine's Python; "
            f"kept for the machines that have theirs: {others}"
        )
    legacy = None
    base_python: str | None = None
    if todo.action == plan.REBUILD:
        # Never take a working environment out of use for a rebuild that cannot succeed
        # (a requires-python that no available interpreter satisfies).
        base_python = complete.find_python(script, build.uv)
        if os.environ.get("UV_PYTHON"):
            base_python = None  # the user's choice, as on a first launch: uv reads it
        build.notify(f"rebuilding the environment of {invoked}: {todo.reason}")
        if facts.legacy:
            # Its directory becomes the one that holds generations: out of the way first.
            legacy = trash.take_out_of_use(base)
    new_env = generations.new_dir(env)
    try:
        # A copy of a script another environment was built for: no build (thin.py).
        shares = todo.action == plan.CREATE and script.block is not None
        from uvlaunch.building import thin

        thin_uv = thin.share(base.root, new_env, script, build.uv) if shares else None
        uv_version = thin_uv if thin_uv is not None else _create(build, new_env, base_python)
        complete.finish(
            base.root, new_env, script, build.uv, uv_version, compile_now=not compiling.LATER
        )
    except BaseException:
        generations.discard(env, new_env)
        # A rebuild that fails (no Python satisfies requires-python, offline with a
        # new dependency, interrupted) must not lose the old environment.
        if legacy is not None and not base.exists():
            os.replace(legacy, base.dir)
        raise
    if chosen is None:
        env = base.with_variant("-" + machines.key(new_env))
    # The broken generation is no rollback: the one kept stays kept.
    generations.flip(env, new_env, keep_current=False)
    if legacy is not None:
        trash.delete_tree(legacy, within=base.root)
    return False, env


def _keep(build: Build, current: str, old: stamp.Stamp) -> bool:
    """Bring the stamp of the current generation up to date; whether to start through uv."""
    uv_bin = build.uv
    through_uv = uv_changed(uv_bin, old)
    uv_version = uv.version(uv_bin) if through_uv else old.uvversion
    new = complete.fields(build.script, current, uv_bin, uv_version, old)
    if new != old:
        build.env.check()
        store.write_atomic(build.env.root, paths.stamp_path(current), new.encode(), durable=False)
    else:
        _touch(paths.stamp_path(current))
    return through_uv


def uv_changed(uv_bin: str, old: stamp.Stamp) -> bool:
    """Whether ``uv_bin`` is not the uv binary that synced the generation stamped ``old``:
    the script then starts through ``uv run``, which checks the environment itself."""
    return old.uv != uv_bin or old.uvsig != stamp.file_signature(uv_bin)


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
        with script.for_uv(build.env.root) as given:
            argv = uv.sync_argv(uv_bin, given, python=python, quiet=quiet, verbose=verbose)
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
        with script.for_uv(build.env.root) as given:
            rc = uv.sync(uv_bin, given, env, python=python, quiet=quiet, verbose=verbose)
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


def _edit(build: Build, env: Env, current: str) -> None:
    """Build the edited block's generation beside ``env`` and flip to it.

    A block edit is a new generation, like an upgrade: the generation a running script
    uses never changes, and a failed edit leaves ``env`` current, complete and untouched
    (nothing of uv's, nor the byte-compiler still at work in ``current``, can damage it).
    """
    script, uv_bin = build.script, build.uv
    # The clone made ahead, after the last edit (spare.py), else one made now.
    made = spare.take(env, current, script, uv_bin)
    new_env = made or generations.new_dir(env)
    try:
        if made is None:
            beside.prepare(script, current, new_env, uv_bin, keep=True, clone=True)
        spare.mark_edited(new_env)
        with script.for_uv(env.root) as given:
            if SPECULATE:  # through the same filter as a first launch: uv run's output
                argv = uv.sync_argv(
                    uv_bin, given, python=None, quiet=build.quiet, verbose=build.verbose
                )
                proc = uv.start(argv, uv.base_env(new_env), capture=True)
                rc, held = uvoutput.relay(proc, release_when=new_env, report=build.verbose > 0)
            else:
                rc = uv.sync(
                    uv_bin, given, new_env, python=None, quiet=build.quiet, verbose=build.verbose
                )
                held = b""
        if rc != 0:
            why = "see uv's message above"
            if held:
                why = uvoutput.reason(held.decode("utf-8", "replace"), rc)
            raise UvError(
                f"{script.ident.invoked}: uv could not sync the environment: {why}; "
                "the environment was left as it was"
            )
        complete.finish(
            env.root,
            new_env,
            script,
            uv_bin,
            _uv_version(uv_bin, new_env),
            compile_now=not compiling.LATER,
        )
    except BaseException:
        generations.discard(env, new_env)
        raise
    # What the edit replaced is no rollback (its block is not the script's any more):
    # the generation kept for rollback stays; the replaced one goes once no script runs
    # it, deleted while the edited script starts.
    generations.flip(env, new_env, keep_current=False, later=True)


def _touch(path: str) -> None:
    try:
        os.utime(path)
    except OSError:
        pass
