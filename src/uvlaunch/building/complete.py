"""What makes a generation complete: the interpreter it is built with, chosen to admit
the script's requires-python, and its stamp, written last (stamp.py).

Shared by launches (envbuild.py) and by upgrades and reinstalls (generations.py).
"""

from __future__ import annotations

import os

from uvlaunch.building import compiling, content, shared, venv
from uvlaunch.errors import ScriptError, UvlaunchError
from uvlaunch.home import paths, sharers, stamp, store
from uvlaunch.scripts import metadata
from uvlaunch.scripts.script import Script
from uvlaunch.uv import calls as uv
from uvlaunch.uv import output as uvoutput


def finish(
    root: str, env: str, script: Script, uv_bin: str, uv_version: str, *, compile_now: bool
) -> stamp.Stamp:
    """Stamp a freshly synced environment complete (the stamp comes last); returns it.

    Byte-compiling is no part of being complete: a launch leaves it to the background
    once the script has started (compiling.py); ``compile_now`` does it here first.
    """
    if compile_now and compiling.enabled():
        compiling.compile_environment(root, env)
    not_writable_by_others(env)
    # The use lock every launch takes exists before the generation is complete: a
    # launch never has to create it (a home mounted read-only could not).
    os.close(os.open(paths.generation_lock_path(env), os.O_WRONLY | os.O_CREAT, 0o600))
    # What it holds, for sharing (content.py): before the stamp, so a complete
    # generation of this uvlaunch always has it.
    key = None
    if sharers.source_of(env) is None:  # a thin generation links its source's (thin.py)
        content.record(root, env, uv_version)
        key = shared.resolution_key(script, uv_bin, dict(os.environ))
        shared.record(root, env, key)
    new = fields(script, env, uv_bin, uv_version, None)
    if compile_now:
        total, own = venv.usage(env)
        new = new.replace(size=str(total), own=str(own))
        if compiling.enabled():
            new = new.replace(compiled="1")
    # A launch does not wait for the disk (store.write_atomic): its background compiler
    # makes the stamp durable; an upgrade's generation is compiled first, and durable.
    store.write_atomic(root, paths.stamp_path(env), new.encode(), durable=compile_now)
    if key is not None:
        shared.index(root, env, key)  # complete now: copies may find it (shared.match)
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


def fields(
    script: Script, env: str, uv_bin: str, uv_version: str, old: stamp.Stamp | None
) -> stamp.Stamp:
    """The stamp of ``env`` synced for ``script`` (``old``: keep its sync time and size)."""
    new = stamp.Stamp(
        script=paths.to_stored(script.ident.path),
        dev=str(script.ident.dev),
        ino=str(script.ident.ino),
        lock=script.lock_sig,
        lockhash=script.lock_hash,
        uv=uv_bin,
        uvsig=stamp.file_signature(uv_bin),
        uvversion=uv_version,
        python=venv.python_version(env),
        pysig=stamp.file_signature(paths.env_python(env)),
        block=script.block,
        resolved=script.resolved(),
        synced=str(store.now()),
    )
    if old is None:
        return new
    # The interpreter's version as last checked (envbuild._interpreter_changed).
    kept = {k: getattr(old, k) for k in ("synced", "size", "own", "compiled", "python")}
    return new.replace(**{k: v for k, v in kept.items() if v})


def not_writable_by_others(env: str) -> None:
    # Under a umask of 002 uv makes group-writable directories; launches refuse to start
    # what others can change (trust.py), so the environment's own must not be. uv runs
    # with a umask of 022 at least (spawn.py); but it makes its `.lock` 0666 on purpose
    # (shared caches), whatever the umask: nothing in uvlaunch's home is others' to write.
    import stat as stat_mod

    for path in (env, paths.env_bin(env), os.path.join(env, ".lock")):
        try:
            mode = stat_mod.S_IMODE(os.lstat(path).st_mode)
            if mode & 0o022:
                os.chmod(path, mode & ~0o022)
        except OSError:
            pass


def admits(spec: str, version: str) -> bool:
    """Whether the Python ``version`` satisfies the requires-python ``spec``."""
    plain = plainly_admits(spec, version)
    if plain is not None:
        return plain
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(spec)
    except (InvalidVersion, ValueError):
        return False


def plainly_admits(spec: str, version: str) -> bool | None:
    """``admits`` for a plain spec (metadata.plainly_valid) and a version of digits and
    dots, without importing packaging (20 ms of a block edit); None for anything else.
    PEP 440 on such versions: releases compared with zeros padded, ``~=`` as ``>=`` and
    the prefix, and no pre-, post- or local release to exclude."""
    if not metadata.plainly_valid(spec, requirement=False):
        return None
    have = _release(version)
    if have is None:
        return None
    for clause in spec.split(","):
        clause = clause.strip(" \t")
        op = clause[:2] if clause[:2] in ("==", "!=", "<=", ">=", "~=") else clause[:1]
        want = _release(clause[len(op) :].strip(" \t"))
        if want is None:
            return None
        size = max(len(have), len(want))
        a, b = have + (0,) * (size - len(have)), want + (0,) * (size - len(want))
        ok = {
            "==": a == b,
            "!=": a != b,
            "<=": a <= b,
            ">=": a >= b,
            "<": a < b,
            ">": a > b,
            "~=": a >= b and a[: len(want) - 1] == b[: len(want) - 1],
        }[op]
        if not ok:
            return False
    return True


def _release(text: str) -> tuple[int, ...] | None:
    parts = text.split(".")
    if not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


CACHE_FAILED = "Failed to initialize cache"  # uv's words when its cache cannot be made


def explain(script: Script, uv_bin: str, why: str) -> UvlaunchError | None:
    """Why uv failed before creating the script's environment, if it is one we can name.

    ``why`` is uv's own reason, kept where it says more than uvlaunch knows.
    """
    try:
        uv.version(uv_bin)  # an old uv rejects the command line itself
        script.meta()  # the block's TOML, dependencies, requires-python
        spec = script.meta().requires_python
        found, words = uv.look_for_python(uv_bin, spec) if spec else (None, "")
        for said in (why, words):
            if CACHE_FAILED in said:
                # A service's HOME that is not writable (cron, systemd): uv fails on its
                # cache before anything else, and every question to it fails the same way.
                return ScriptError(
                    f"{script.ident.invoked}: uv cannot use its cache "
                    f"(uv: {uvoutput.reason(said, 2)}); set UV_CACHE_DIR to a directory "
                    "this user can write"
                )
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
