"""How a launch proceeds when the fast path cannot take it.

Resolve the script, find or register its environment, and under the environment's
lock create, repair, rebuild or sync it as needed; then start the script.

A first launch goes straight to uv: it checks nothing that uv checks itself (the
block's TOML and requirements, an interpreter for requires-python, uv's own version),
holds back what uv says until uv has created the environment, and only when uv fails
before that looks for the reason, to say it in one line (``_explain``). Everything on
that way is imported lazily or is cheap to import: see docs/performance.md.
"""

from __future__ import annotations

import os
import sys

from uvlaunch import bytecode, fastpath, identity, metadata, paths, stamp, store, uv
from uvlaunch.errors import ScriptError, UvError, UvlaunchError
from uvlaunch.identity import ScriptIdentity

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    Notify = Callable[[str], None]

# Starting uv with its output captured, then explaining a failure, needs posix_spawn
# and a pipe; elsewhere the script is checked first and uv writes to the terminal.
SPECULATE = sys.platform != "win32"


class Prepared:
    """A script whose environment is ready to start it."""

    # Plain classes here and below: dataclasses imports re and inspect (12 ms).
    __slots__ = ("env", "name", "python", "script", "through_uv", "uv")

    def __init__(
        self,
        *,
        script: ScriptIdentity,
        name: str,
        env: str,
        python: str,
        uv: str,
        through_uv: bool,
    ) -> None:
        self.script = script
        self.name = name
        self.env = env
        self.python = python
        self.uv = uv
        self.through_uv = through_uv  # the uv binary changed since the last sync


class Script:
    """A script read from disk: its block found, its TOML parsed only when needed."""

    __slots__ = ("_meta", "block", "ident", "lock_hash", "lock_sig", "text")

    def __init__(
        self, ident: ScriptIdentity, text: str, block: str | None, lock_sig: str, lock_hash: str
    ) -> None:
        self.ident = ident
        self.text = text
        self.block = block
        self.lock_sig = lock_sig
        self.lock_hash = lock_hash
        self._meta: metadata.ScriptMetadata | None = None

    def meta(self) -> metadata.ScriptMetadata:
        """The block parsed and validated; MetadataError when it is malformed."""
        if self._meta is None:
            self._meta = metadata.parse(self.text, self.ident.invoked)
        return self._meta


def read_script(invoked: str) -> Script:
    """Resolve and read the script named ``invoked``, and find its block.

    A block that cannot be found (unclosed, two of them, not UTF-8) is an error here;
    what is inside it is checked by ``Script.meta`` or, on a first launch, by uv.
    """
    ident = identity.resolve(invoked)
    text = metadata.read_text(ident.path, display=invoked)
    block = metadata.find_block(text, invoked)
    lock_path = identity.lock_file(ident.path)
    lock_sig = stamp.file_signature(lock_path)
    lock_hash = "-"
    if lock_sig != "-":
        try:
            with open(lock_path, "rb") as f:
                lock_hash = store.sha256_hex(f.read())
        except OSError as e:
            raise ScriptError(
                f"{lock_path}: cannot read the script's lock file: {e.strerror}"
            ) from None
    script = Script(ident, text, block, lock_sig, lock_hash)
    if not SPECULATE:
        script.meta()
    return script


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
    _open_std_fds()
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


def _open_std_fds() -> None:
    # Started with stderr closed (2>&-), the next file opened would become fd 2, and
    # uv's relayed output would go into a lock file. Put /dev/null there first, as
    # uv (like every Rust program) does for itself.
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)


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
        elif _block_field(old) != script.block or old.get("lockhash") != script.lock_hash:
            # An unchanged block was satisfied when it was synced; a changed one is
            # checked before anything changes, so that a bad edit keeps the environment.
            spec = script.meta().requires_python
            if spec and not _admits(spec, old.get("python", "")):
                rebuild_reason = (
                    f"requires-python {spec!r} no longer admits its Python {old.get('python')}"
                )
            else:
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
            uv_version = _create(root, name, env, script, uv_bin, base_python, quiet, verbose)
        except BaseException:
            # A rebuild that fails (no Python satisfies requires-python, offline with a
            # new dependency, interrupted) must not lose the old environment.
            if trashed is not None and not os.path.lexists(env):
                os.replace(trashed, env)
            raise
        if trashed is not None:
            store.delete_tree(trashed, within=root)
    else:
        uv_version = uv.version(uv_bin)
        _sync(root, env, script, uv_bin, quiet, verbose, old)
    if compile_bytecode():
        compile_environment(env)
    fields = _fields(script, env, uv_bin, uv_version, None)
    fields["size"] = str(disk_usage(env))
    store.write_atomic(root, paths.stamp_path(env), stamp.encode(fields))
    return False


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
    """Create the environment; returns the version of the uv that created it."""
    held = b""
    try:
        if script.block is None:
            # `uv sync --script` refuses a file without a block: an empty environment.
            rc = uv.create_empty(uv_bin, env, quiet=quiet, verbose=verbose)
        elif SPECULATE:
            argv = uv.sync_argv(
                uv_bin, script.ident.path, python=python, quiet=quiet, verbose=verbose
            )
            proc = uv.start(argv, uv.base_env(env), capture=True)
            rc, held = uv.relay(proc, release_when=os.path.join(env, "pyvenv.cfg"))
        else:
            if python is None:
                python = find_python(script, uv_bin)
            rc = uv.sync(
                uv_bin, script.ident.path, env, python=python, quiet=quiet, verbose=verbose
            )
    except BaseException:
        _take_out_of_use(root, name)
        raise
    if rc != 0:
        # Never leave a half-built environment where a launch would find it.
        _take_out_of_use(root, name)
        if held:
            # uv stopped before creating the environment: its block, its interpreter
            # or uv itself. Say which in one line if we can tell; else show uv's words.
            explained = _explain(script, uv_bin)
            if explained is not None:
                raise explained
            uv.show(held)
        raise UvError(
            f"{script.ident.invoked}: uv could not create the environment (exit status {rc}); "
            "see uv's message above"
        )
    # uv writes its version into pyvenv.cfg; a uv that did the work is new enough.
    return _pyvenv_value(env, "uv") or uv.version(uv_bin)


def _explain(script: Script, uv_bin: str) -> UvlaunchError | None:
    """Why uv failed before creating the script's environment, if it is one we can name."""
    try:
        uv.version(uv_bin)  # an old uv rejects the command line itself
        script.meta()  # the block's TOML, dependencies, requires-python
        find_python(script, uv_bin)  # no interpreter for requires-python
    except UvlaunchError as e:
        return e
    return None


def _take_out_of_use(root: str, name: str) -> None:
    """Remove what a failed creation left, so that no launch finds it half-built."""
    try:
        trashed = store.take_out_of_use(root, name)
        if trashed is not None:
            store.delete_tree(trashed, within=root)
    except OSError:
        pass  # whatever stays in the trash, gc deletes


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
    rc = uv.sync(uv_bin, script.ident.path, env, python=None, quiet=quiet, verbose=verbose)
    if rc != 0:
        if old is not None and _site_snapshot(env) == before:
            # uv failed before touching anything (resolution fails first): the
            # environment is as it was, so it stays complete for the old block.
            store.write_atomic(root, stamp_file, stamp.encode(old))
        raise UvError(
            f"{script.ident.invoked}: uv could not sync the environment (exit status {rc}); "
            "see uv's message above; the environment was left as it was"
        )


def compile_environment(env: str) -> None:
    """Byte-compile what is not yet compiled in the environment's site-packages."""
    dirs = bytecode.site_packages(env)
    if not dirs:
        return
    if _same_python(env):
        bytecode.compile_dirs(dirs)  # in this process and forks of it: no interpreter start
        return
    import subprocess

    # Another Python's .pyc files differ: let that Python run the same code.
    subprocess.run(
        [paths.env_python(env), "-I", bytecode.__file__, *dirs],
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _same_python(env: str) -> bool:
    """Whether the environment's Python writes the same .pyc files as this one."""
    version = _pyvenv_value(env, "version_info", "version").split(".")
    implementation = _pyvenv_value(env, "implementation").lower()
    return (
        implementation == sys.implementation.name
        and len(version) >= 2
        and all(part.isdigit() for part in version)  # a final release, as below
        and (int(version[0]), int(version[1])) == sys.version_info[:2]
        and sys.version_info.releaselevel == "final"  # magic numbers change only before
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
    if script.block is None:
        fields["noblock"] = "1"
    else:
        fields["block"] = script.block
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
    return _pyvenv_value(env, "version_info", "version")


def _pyvenv_value(env: str, *keys: str) -> str:
    """The first of ``keys`` found in the environment's pyvenv.cfg, or ""."""
    try:
        with open(os.path.join(env, "pyvenv.cfg"), encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() in keys:
                    return value.strip()
    except (OSError, UnicodeDecodeError):
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
    try:
        os.utime(path)
    except OSError:
        pass


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
