"""How a launch proceeds when the fast path cannot take it.

Resolve the script, find or register its environment, and under the environment's
lock create, repair, rebuild or sync it as needed; then start the script.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from uvlaunch import fastpath, identity, metadata, paths, stamp, store, uv
from uvlaunch.errors import ScriptError, UvError, UvlaunchError
from uvlaunch.identity import ScriptIdentity

Notify = Callable[[str], None]


@dataclass(frozen=True)
class Prepared:
    """A script whose environment is ready to start it."""

    script: ScriptIdentity
    name: str
    env: str
    python: str
    uv: str
    through_uv: bool  # the uv binary changed since the last sync: let uv look at it once


@dataclass(frozen=True)
class Script:
    """A script read from disk and checked."""

    ident: ScriptIdentity
    meta: metadata.ScriptMetadata
    lock_sig: str
    lock_hash: str


def read_script(invoked: str) -> Script:
    """Resolve, read and validate the script named ``invoked``."""
    ident = identity.resolve(invoked)
    text = metadata.read_text(ident.path, display=invoked)
    meta = metadata.parse(text, invoked)
    lock_path = identity.lock_file(ident.path)
    lock_sig = stamp.file_signature(lock_path)
    lock_hash = "-"
    if lock_sig != "-":
        try:
            with open(lock_path, "rb") as f:
                lock_hash = hashlib.sha256(f.read()).hexdigest()
        except OSError as e:
            raise ScriptError(
                f"{lock_path}: cannot read the script's lock file: {e.strerror}"
            ) from None
    return Script(ident=ident, meta=meta, lock_sig=lock_sig, lock_hash=lock_hash)


def register(root: str, ident: ScriptIdentity) -> store.Record:
    """Find the environment record of ``ident``, creating or updating it as needed."""
    with store.index_lock(root):
        rec, how = store.lookup(root, ident)
        if rec is None:
            # A damaged record or index must not cost the script its environment.
            found = store.recover(root, ident)
            name = found.name if found else store.new_name(root, ident)
            created = found.created if found else store.now()
        elif how in ("moved", "saved"):
            # A move keeps the inode, an editor's atomic save keeps the path: record the new one.
            store.unindex_record(root, rec)
            name, created = rec.name, rec.created
        else:
            return rec
        rec = store.Record(name, ident.path, ident.dev, ident.ino, created)
        store.write_record(root, rec)
        store.index_record(root, rec)
        return rec


def prepare(invoked: str, *, quiet: int = 0, verbose: int = 0, notify: Notify) -> Prepared:
    """Make the environment of ``invoked`` ready, creating or syncing it if needed."""
    script = read_script(invoked)
    uv_bin = uv.find_uv()
    root = store.open_home()
    rec = register(root, script.ident)
    env = paths.env_dir(root, rec.name)
    with store.env_lock(root, rec.name):
        # Check again under the lock: another launch may have done the work meanwhile.
        through_uv = _ensure(root, rec.name, env, script, uv_bin, quiet, verbose, notify)
    return Prepared(
        script=script.ident,
        name=rec.name,
        env=env,
        python=paths.env_python(env),
        uv=uv_bin,
        through_uv=through_uv,
    )


def _ensure(
    root: str,
    name: str,
    env: str,
    script: Script,
    uv_bin: str,
    quiet: int,
    verbose: int,
    notify: Notify,
) -> bool:
    invoked = script.ident.invoked
    old = stamp.read(paths.stamp_path(env))
    rebuild_reason = None
    action = "none"
    if not os.path.lexists(env):
        action = "create"
    else:
        python = paths.env_python(env)
        if os.path.lexists(python) and not os.path.exists(python):
            target = _readlink(python)
            rebuild_reason = f"its Python interpreter {target} is gone"
        elif not _venv_intact(env):
            rebuild_reason = "it was left half-built"
        elif old is None:
            # What a killed sync leaves is unknown (uv may have died halfway through a
            # package, and then refuses to sync over it): build it afresh.
            rebuild_reason = "its last sync did not finish"
        elif script.meta.requires_python and not _admits(
            script.meta.requires_python, old.get("python", "")
        ):
            rebuild_reason = (
                f"requires-python {script.meta.requires_python!r} "
                f"no longer admits its Python {old.get('python')}"
            )
        elif _block_field(old) != script.meta.block or old.get("lockhash") != script.lock_hash:
            action = "sync"
    trashed = None
    base_python: str | None = None
    if rebuild_reason is not None:
        # Never take a working environment out of use for a rebuild that cannot succeed
        # (a requires-python that no available interpreter satisfies).
        base_python = find_python(script, uv_bin)
        notify(f"rebuilding the environment of {invoked}: {rebuild_reason}")
        trashed = store.take_out_of_use(root, name)
        action = "create"

    if action == "none":
        assert old is not None
        uv_sig = stamp.file_signature(uv_bin)
        through_uv = old.get("uv") != uv_bin or old.get("uvsig") != uv_sig
        uv_version = uv.version(uv_bin) if through_uv else old.get("uvversion", "")
        fields = _fields(script, env, uv_bin, uv_version, old)
        if fields != {k: old.get(k) for k in fields}:
            store.write_atomic(root, paths.stamp_path(env), stamp.encode(fields))
        else:
            _touch(paths.stamp_path(env))
        return through_uv

    if action == "create":
        try:
            uv_version = uv.version(uv_bin)
            if rebuild_reason is None:  # a rebuild looked for it before trashing
                base_python = find_python(script, uv_bin)
            _create(root, name, env, script, uv_bin, base_python, quiet, verbose)
        except UvlaunchError:
            # A rebuild that fails (no Python satisfies requires-python, offline with a
            # new dependency) must not lose the old environment: put it back as it was.
            if trashed is not None and not os.path.lexists(env):
                os.replace(trashed, env)
            raise
        if trashed is not None:
            store.delete_tree(trashed, within=root)
    else:
        uv_version = uv.version(uv_bin)
        _sync(root, env, script, uv_bin, quiet, verbose, old)
    fields = _fields(script, env, uv_bin, uv_version, None)
    fields["size"] = str(disk_usage(env))
    store.write_atomic(root, paths.stamp_path(env), stamp.encode(fields))
    return False


def find_python(script: Script, uv_bin: str) -> str | None:
    """An installed interpreter for the script's requires-python; ScriptError if none may do."""
    spec = script.meta.requires_python
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
) -> None:
    invoked = script.ident.invoked
    if script.meta.block is None:
        rc = uv.create_empty(uv_bin, env, quiet=quiet, verbose=verbose)
    else:
        rc = uv.sync(
            uv_bin,
            script.ident.path,
            env,
            python=python,
            quiet=quiet,
            verbose=verbose,
            compile=compile_bytecode(),
        )
    if rc != 0:
        # Never leave a half-built environment where a launch would find it.
        with contextlib.suppress(OSError):
            store.take_out_of_use(root, name)
        raise UvError(
            f"{invoked}: uv could not create the environment (exit status {rc}); "
            "see uv's message above"
        )


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
    before = _site_snapshot(env)
    # Not complete while uv changes it: a launch killed mid-sync must not find it complete.
    store.remove_file(stamp_file)
    rc = uv.sync(
        uv_bin,
        script.ident.path,
        env,
        python=None,
        quiet=quiet,
        verbose=verbose,
        compile=compile_bytecode(),
    )
    if rc != 0:
        if old is not None and _site_snapshot(env) == before:
            # uv failed before touching anything (resolution fails first): the
            # environment is as it was, so it stays complete for the old block.
            store.write_atomic(root, stamp_file, stamp.encode(old))
        raise UvError(
            f"{script.ident.invoked}: uv could not sync the environment (exit status {rc}); "
            "see uv's message above; the environment was left as it was"
        )


def compile_bytecode() -> bool:
    """Whether to byte-compile environments when they are built (on unless disabled)."""
    return os.environ.get("UVLAUNCH_COMPILE_BYTECODE", "1").lower() not in (
        "0",
        "false",
        "no",
        "off",
    )


def _fields(
    script: Script, env: str, uv_bin: str, uv_version: str, old: dict[str, str] | None
) -> dict[str, str]:
    fields = {
        "script": script.ident.path,
        "dev": str(script.ident.dev),
        "ino": str(script.ident.ino),
        "lock": script.lock_sig,
        "lockhash": script.lock_hash,
        "uv": uv_bin,
        "uvsig": stamp.file_signature(uv_bin),
        "uvversion": uv_version,
        "python": python_version(env),
    }
    if script.meta.block is None:
        fields["noblock"] = "1"
    else:
        fields["block"] = script.meta.block
    if old is not None:
        for key in ("synced", "size"):
            if key in old:
                fields[key] = old[key]
    else:
        fields["synced"] = str(store.now())
    return fields


def _block_field(fields: dict[str, str]) -> str | None:
    return None if fields.get("noblock") == "1" else fields.get("block")


def python_version(env: str) -> str:
    """The Python version recorded in the environment's pyvenv.cfg, or ""."""
    try:
        with open(os.path.join(env, "pyvenv.cfg"), encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() in ("version_info", "version"):
                    return value.strip()
    except OSError:
        pass
    return ""


def _admits(spec: str, version: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(spec)
    except (InvalidVersion, ValueError):
        return False


def _venv_intact(env: str) -> bool:
    return os.path.isfile(os.path.join(env, "pyvenv.cfg")) and os.path.exists(paths.env_python(env))


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return path


def _touch(path: str) -> None:
    with contextlib.suppress(OSError):
        os.utime(path)


def _site_snapshot(env: str) -> list[tuple[str, int]]:
    # What uv changes when it installs or removes anything: site-packages' entries.
    out: list[tuple[str, int]] = []
    for lib in ("lib", "Lib"):
        top = os.path.join(env, lib)
        for dirpath, dirnames, _ in os.walk(top):
            if os.path.basename(dirpath) == "site-packages":
                for entry in os.scandir(dirpath):
                    out.append((entry.name, entry.stat(follow_symlinks=False).st_mtime_ns))
                dirnames.clear()
    return sorted(out)


def disk_usage(top: str) -> int:
    """Bytes used under ``top``, counting each hard-linked file once, as ``du`` does."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [top]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += getattr(st, "st_blocks", 0) * 512 or st.st_size
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return total


def start(
    prepared: Prepared, args: list[str], *, through_uv: bool, quiet: int, verbose: int
) -> NoReturn:
    """Start the script in its prepared environment; never returns."""
    invoked = prepared.script.invoked
    if through_uv or prepared.through_uv:
        argv = uv.run_argv(
            prepared.uv, _uv_script_arg(prepared.script), args, quiet=quiet, verbose=verbose
        )
        environ = uv.run_env(prepared.env)
        if sys.platform == "win32":
            import subprocess

            sys.exit(subprocess.run(argv, env=environ, check=False).returncode)
        os.execve(prepared.uv, argv, environ)
    environ = fastpath.child_environ(prepared.env, prepared.uv)
    fastpath.exec_script(prepared.python, invoked, args, environ)


def _uv_script_arg(ident: ScriptIdentity) -> str:
    """The path to give ``uv run --script``: as invoked, unless uv would read a wrong lock."""
    # uv reads the lock file next to the path it is given, while the script's lock file
    # is the one beside the real file. A symlink with a lock file of its own beside it
    # would make uv sync the environment from that one: give uv the real path instead.
    beside = identity.lock_file(ident.invoked)
    if (
        ident.invoked != ident.path
        and os.path.lexists(beside)
        and os.path.realpath(beside) != identity.lock_file(ident.path)
    ):
        return ident.path
    return ident.invoked


def exec_in(prepared: Prepared, argv: list[str]) -> NoReturn:
    """Replace this process with ``argv`` run inside the prepared environment."""
    from uvlaunch.errors import UvlaunchError

    environ = fastpath.child_environ(prepared.env, prepared.uv)
    import shutil

    program = shutil.which(argv[0], path=environ["PATH"]) or argv[0]
    if sys.platform == "win32":
        import subprocess

        sys.exit(subprocess.run([program, *argv[1:]], env=environ, check=False).returncode)
    try:
        os.execve(program, argv, environ)
    except OSError as e:
        raise UvlaunchError(f"{argv[0]}: cannot run the command: {e.strerror}") from None
