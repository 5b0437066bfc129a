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
before that looks for the reason, to say it in one line (``_explain``). Everything on
that way is imported lazily or is cheap to import: see docs/performance.md.
"""

from __future__ import annotations

import os

from uvlaunch import (
    compiling,
    generations,
    machines,
    paths,
    pointer,
    stamp,
    store,
    uv,
    uvoutput,
    venv,
)
from uvlaunch.errors import ScriptError, UvError, UvlaunchError
from uvlaunch.script import SPECULATE, Script

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable

    Notify = Callable[[str], None]


def ensure(
    root: str, name: str, script: Script, uv_bin: str, *, quiet: int, verbose: int, notify: Notify
) -> tuple[bool, str]:
    """Make this machine's variant of the environment ``name`` right for ``script``;
    call with its lock held.

    Afterwards the variant's pointer names a complete generation (``pointer.current``).
    Returns whether the script must start through ``uv run`` (the uv binary changed),
    and the variant (machines.py).
    """
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
        notify(
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
            if spec and not admits(spec, old.get("python", "")):
                rebuild_reason = (
                    f"requires-python {spec!r} no longer admits its Python {old.get('python')}"
                )
            else:
                action = "sync"
    legacy = None
    base_python: str | None = None
    if rebuild_reason is not None:
        # Never take a working environment out of use for a rebuild that cannot succeed
        # (a requires-python that no available interpreter satisfies).
        base_python = find_python(script, uv_bin)
        if os.environ.get("UV_PYTHON"):
            base_python = None  # the user's choice, as on a first launch: uv reads it
        notify(f"rebuilding the environment of {invoked}: {rebuild_reason}")
        if generations.is_legacy(root, name):
            # Its directory becomes the one that holds generations: out of the way first.
            legacy = store.take_out_of_use(root, name)
        action = "create"

    if action == "none":
        assert old is not None and env is not None
        uv_sig = stamp.file_signature(uv_bin)
        through_uv = old.get("uv") != uv_bin or old.get("uvsig") != uv_sig
        uv_version = uv.version(uv_bin) if through_uv else old.get("uvversion", "")
        new = fields(script, env, uv_bin, uv_version, old)
        if new != {k: old.get(k) for k in new}:
            store.write_atomic(root, paths.stamp_path(env), stamp.encode(new), durable=False)
        else:
            _touch(paths.stamp_path(env))
        return through_uv, variant

    if action == "create":
        new_env = generations.new_dir(root, name)
        try:
            uv_version = _create(root, name, new_env, script, uv_bin, base_python, quiet, verbose)
            finish(root, new_env, script, uv_bin, uv_version, compile_now=not compiling.LATER)
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
            store.delete_tree(legacy, within=root)
        return False, variant
    assert env is not None
    uv_version = uv.version(uv_bin)
    _sync(root, env, script, uv_bin, quiet, verbose, old)
    finish(root, env, script, uv_bin, uv_version, compile_now=not compiling.LATER)
    return False, variant


def finish(
    root: str, env: str, script: Script, uv_bin: str, uv_version: str, *, compile_now: bool
) -> dict[str, str]:
    """Stamp a freshly synced environment complete (the stamp comes last); returns it.

    Byte-compiling is no part of being complete: a launch leaves it to the background
    once the script has started (compiling.py); ``compile_now`` does it here first.
    """
    if compile_now and compiling.enabled():
        compiling.compile_environment(root, env)
    _not_writable_by_others(env)
    new = fields(script, env, uv_bin, uv_version, None)
    if compile_now:
        total, own = venv.usage(env)
        new["size"], new["own"] = str(total), str(own)
        if compiling.enabled():
            new["compiled"] = "1"
    # A launch does not wait for the disk (store.write_atomic): its background compiler
    # makes the stamp durable; an upgrade's generation is compiled first, and durable.
    store.write_atomic(root, paths.stamp_path(env), stamp.encode(new), durable=compile_now)
    return new


def find_python(script: Script, uv_bin: str) -> str | None:
    """An installed interpreter for the script's requires-python; ScriptError if none may do."""
    spec = script.meta().requires_python
    if not spec:
        return None
    python = uv.find_python(uv_bin, spec)
    if python is None and not uv.downloads_allowed():
        raise ScriptError(
            f"{script.ident.invoked}: no installed Python satisfies requires-python {spec!r}, "
            "and uv may not download one"
        )
    return python


def _create(
    root: str,
    name: str,
    env: str,
    script: Script,
    uv_bin: str,
    python: str | None,
    quiet: int,
    verbose: int,
) -> str:
    """Create the generation ``env``; returns the version of the uv that created it.

    On failure the caller discards what uv left (generations.discard).
    """
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
            python = find_python(script, uv_bin)
        rc = uv.sync(uv_bin, script.ident.path, env, python=python, quiet=quiet, verbose=verbose)
    if rc == 0:
        uv_version = _uv_version(uv_bin, env)
    if rc != 0:
        if held:
            # uv's error (before it created the environment: the block, the interpreter
            # or uv itself; or after: resolving, installing), in one line: ours when we
            # can tell more, keeping uv's cause, else uv's.
            why = uvoutput.reason(held.decode("utf-8", "replace"), rc)
            explained = _explain(script, uv_bin, why)
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


def _explain(script: Script, uv_bin: str, why: str) -> UvlaunchError | None:
    """Why uv failed before creating the script's environment, if it is one we can name.

    ``why`` is uv's own reason, kept where it says more than uvlaunch knows.
    """
    try:
        uv.version(uv_bin)  # an old uv rejects the command line itself
        script.meta()  # the block's TOML, dependencies, requires-python
        spec = script.meta().requires_python
        found, words = uv.look_for_python(uv_bin, spec) if spec else (None, "")
        if spec and found is None:
            # No installed interpreter; uv may have tried to download one and failed.
            # uv's own words name the cause (a failing pyenv shim, say) better than ours.
            how = "uv could not download one"
            if not uv.downloads_allowed():
                how = "uv may not download one"
            cause = uvoutput.reason(words, 2) if words.strip() else why
            return ScriptError(
                f"{script.ident.invoked}: no installed Python satisfies requires-python "
                f"{spec!r}, and {how} (uv: {cause})"
            )
    except UvlaunchError as e:
        return e
    return None


def _sync(
    root: str,
    env: str,
    script: Script,
    uv_bin: str,
    quiet: int,
    verbose: int,
    old: dict[str, str] | None,
) -> None:
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
            store.write_atomic(root, stamp_file, stamp.encode(old))
            raise UvError(
                f"{script.ident.invoked}: uv could not sync the environment: {why}; "
                "the environment was left as it was"
            )
        raise UvError(
            f"{script.ident.invoked}: uv could not sync the environment: {why}; "
            "the next launch rebuilds it"
        )


def fields(
    script: Script, env: str, uv_bin: str, uv_version: str, old: dict[str, str] | None
) -> dict[str, str]:
    """The stamp of ``env`` synced for ``script`` (``old``: keep its sync time and size)."""
    new = {
        "script": paths.to_stored(script.ident.path),
        "dev": str(script.ident.dev),
        "ino": str(script.ident.ino),
        "lock": script.lock_sig,
        "lockhash": script.lock_hash,
        "uv": uv_bin,
        "uvsig": stamp.file_signature(uv_bin),
        "uvversion": uv_version,
        "python": venv.python_version(env),
        "pysig": stamp.file_signature(paths.env_python(env)),
    }
    if script.block is None:
        new["noblock"] = "1"
    else:
        new["block"] = script.block
    if old is not None:
        for key in ("synced", "size", "own", "compiled", "python"):
            if key in old:
                new[key] = old[key]
    else:
        new["synced"] = str(store.now())
    return new


def _damage(
    root: str, env: str, old: dict[str, str] | None
) -> tuple[str | None, dict[str, str] | None]:
    """Why the environment must be rebuilt whatever its script says (or None); its stamp."""
    python = paths.env_python(env)
    # An interpreter that is not here is another machine's: machines.choose() picked
    # another variant then. One here that changed is this machine's.
    if old is not None and old.get("pysig") != stamp.file_signature(python):
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


def _changed(old: dict[str, str], script: Script) -> bool:
    """Whether the script's block or lock file changed since the stamp ``old``."""
    return block_field(old) != script.block or old.get("lockhash") != script.lock_hash


def _interpreter_changed(root: str, env: str, old: dict[str, str]) -> str | None:
    """After the file behind the environment's ``python`` changed: why to rebuild, if so.

    The same Python version (a patch release installed over it, a copy) keeps the
    environment, and the stamp is brought up to date; another version (a version-neutral
    link that now leads to a newer Python) would run with the wrong site-packages.
    """
    python = paths.env_python(env)
    now = venv.running_version(python)
    built = old.get("python", "")
    if now is not None and now.split(".")[:2] == built.split(".")[:2]:
        new = dict(old, pysig=stamp.file_signature(python), python=now)
        store.write_atomic(root, paths.stamp_path(env), stamp.encode(new))
        return None
    shown = "cannot be started" if now is None else f"is now Python {now}"
    return f"its Python interpreter {_readlink(python)} {shown} (it was built with {built})"


def _not_writable_by_others(env: str) -> None:
    # Under a umask of 002 uv makes group-writable directories; launches refuse to start
    # what others can change (trust.py), so the environment's own must not be.
    import stat as stat_mod

    for path in (env, paths.env_bin(env)):
        try:
            mode = stat_mod.S_IMODE(os.lstat(path).st_mode)
            if mode & 0o022:
                os.chmod(path, mode & ~0o022)
        except OSError:
            pass


def block_field(fields: dict[str, str]) -> str | None:
    return None if fields.get("noblock") == "1" else fields.get("block")


def admits(spec: str, version: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(spec)
    except (InvalidVersion, ValueError):
        return False


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
