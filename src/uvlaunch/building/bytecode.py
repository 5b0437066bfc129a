"""Byte-compile an environment's packages when it is built, on every core.

uv does not compile by default, and with PYTHONDONTWRITEBYTECODE set Python never
writes the ``.pyc`` files either, so every start of the script would compile what it
imports. ``uv sync --compile-bytecode`` compiles in fresh interpreters that it starts
for the purpose; here the work is done by processes forked from the launcher, whose
interpreter is already running, one per core (docs/performance.md).

The result is what ``compileall`` (which uv's own compile step calls) writes: the same
``__pycache__`` files, timestamp-based unless SOURCE_DATE_EPOCH asks for checked
hashes. Files that do not compile (vendored Python 2 code, templates) are skipped
silently, as uv and pip do.

This file is also a script: when the environment's Python is not the one running
uvlaunch, uvlaunch runs ``ENV_PYTHON -I bytecode.py DIR...`` with it. So it imports
nothing from uvlaunch and keeps to syntax that Python 3.8 reads.
"""

from __future__ import annotations

import os
import sys

# Fewer stale files than this per worker and a fork costs more than it saves.
_PER_WORKER_MIN = 4


def compile_dirs(dirs: list[str], *, jobs: int = 0, store: str | None = None) -> int:
    """Compile every stale ``.py`` file under ``dirs``; returns how many were stale.

    ``jobs`` is the number of processes (0: one per core available to this one).
    ``store``: a directory of ``.pyc`` files shared between environments (see
    ``compile_file``); a ``.pyc`` not linked from it counts as stale.
    """
    stale = [path for path in _sources(dirs) if not _fresh(path, shared=store is not None)]
    if not stale:
        return 0
    jobs = jobs or cores()
    jobs = max(1, min(jobs, len(stale) // _PER_WORKER_MIN or 1))
    shares = _shares(stale, jobs)
    if not hasattr(os, "fork"):
        _compile_all(stale, store)
        return len(stale)
    pids = []
    for share in shares[1:]:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            status = 1
            try:
                _compile_all(share, store)
                status = 0
            finally:
                os._exit(status)
        pids.append(pid)
    try:
        _compile_all(shares[0], store)
    finally:
        for pid in pids:
            reap(pid)
    return len(stale)


def reap(pid: int) -> None:
    """Wait for the child ``pid`` to exit, through Ctrl-C (it gets the same SIGINT)."""
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except ChildProcessError:
            return
        except KeyboardInterrupt:
            continue  # the worker got the same SIGINT and stops on its own


def cores() -> int:
    """How many CPUs this process may run on (compiling, cloning, reading a home)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _sources(dirs: list[str]) -> list[str]:
    found = []
    for top in dirs:
        for dirpath, dirnames, filenames in os.walk(top):
            # compileall does not descend into __pycache__; neither does import.
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                if name.endswith(".py"):
                    found.append(os.path.join(dirpath, name))
    return found


def _shares(paths: list[str], jobs: int) -> list[list[str]]:
    """``paths`` split into ``jobs`` lists of about the same total size."""
    sized = []
    for path in paths:
        try:
            sized.append((os.stat(path).st_size, path))
        except OSError:
            continue
    sized.sort(reverse=True)
    shares: list[list[str]] = [[] for _ in range(jobs)]
    loads = [0] * jobs
    for size, path in sized:
        i = loads.index(min(loads))
        shares[i].append(path)
        loads[i] += size + 512  # a small file still costs an open, a stat and a write
    return shares


def _hash_based() -> bool:
    # py_compile's default: checked hashes when a reproducible build asks for them.
    return bool(os.environ.get("SOURCE_DATE_EPOCH"))


def _fresh(path: str, *, shared: bool = False) -> bool:
    """Whether ``path`` has a ``.pyc`` that Python would use as it is (and, with
    ``shared``, that is linked from the store rather than a copy of its own)."""
    from importlib import _bootstrap_external as bx

    try:
        cfile = bx.cache_from_source(path)
        with open(cfile, "rb") as f:
            head = f.read(16)
            if shared and os.fstat(f.fileno()).st_nlink < 2:
                return False
        st = os.stat(path)
    except (OSError, ValueError, NotImplementedError):
        return False
    if len(head) < 16 or head[:4] != bx.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(head[4:8], "little")
    if flags != 0 or _hash_based():
        return False  # hash-based: recompiling is as cheap as checking
    mtime = int.from_bytes(head[8:12], "little")
    size = int.from_bytes(head[12:16], "little")
    return mtime == int(st.st_mtime) & 0xFFFFFFFF and size == st.st_size & 0xFFFFFFFF


def _compile_all(paths: list[str], store: str | None = None) -> None:
    import warnings

    with warnings.catch_warnings():
        # compile() warns about things like invalid escapes in packages' code; uv and
        # pip keep those quiet at install time, and so does this.
        warnings.simplefilter("ignore")
        for path in paths:
            try:
                compile_file(path, store=store)
            except (SyntaxError, ValueError, UnicodeError, OSError, RecursionError):
                continue


def compile_file(path: str, *, store: str | None = None) -> None:
    """Write ``path``'s ``.pyc`` the way ``py_compile.compile`` does.

    With ``store``, the code is compiled with a neutral file name (the path below
    ``site-packages``), so that the same source file, hard-linked from uv's cache into
    several environments, compiles to the same ``.pyc`` in each; it is kept once in
    ``store``, named by a SHA-256 of what it is compiled from (``_source_key``), and
    hard-linked into place. A source compiled before for another environment is not
    compiled again: its ``.pyc`` is only linked. CPython sets each code object's file
    name to the real source path when it loads a ``.pyc`` (``_imp._fix_co_filename``),
    so tracebacks still name the real file.
    """
    from importlib import _bootstrap_external as bx

    with open(path, "rb") as f:
        source = f.read()
    st = os.stat(path)
    dfile = path.rpartition(os.sep + "site-packages" + os.sep)[2] if store else path
    cfile = bx.cache_from_source(path)
    try:
        # __pycache__ only, never its parents: an environment removed (renamed into the
        # trash) while this file compiled must not come back as a directory of .pyc files.
        os.mkdir(os.path.dirname(cfile))
    except FileExistsError:
        pass
    shared = None
    if store is not None:
        key = _source_key(source, dfile, st)
        shared = os.path.join(store, key[:2], key)
        if _link(shared, cfile):
            return
    code = compile(source, dfile, "exec", dont_inherit=True)
    if _hash_based():
        import _imp

        # importlib's private helpers are what py_compile itself calls (3.7 to 3.14).
        digest = _imp.source_hash(bx._RAW_MAGIC_NUMBER, source)  # type: ignore[attr-defined]
        data = bx._code_to_hash_pyc(code, digest, True)  # type: ignore[attr-defined]
    else:
        data = bx._code_to_timestamp_pyc(code, st.st_mtime, st.st_size)  # type: ignore[attr-defined]
    if shared is None or not _store_and_link(shared, data, cfile):
        bx._write_atomic(cfile, data, bx._calc_mode(path))  # type: ignore[attr-defined]


def _source_key(source: bytes, dfile: str, st: os.stat_result) -> str:
    """What the ``.pyc`` of ``source`` depends on, hashed: the interpreter's magic number,
    the kind of ``.pyc``, the neutral file name, the source's bytes, and for a
    timestamp-based one the source's mtime and size, which its header holds."""
    from importlib import _bootstrap_external as bx

    if _hash_based():
        kind = b"checked-hash"
    else:
        kind = b"timestamp %d %d" % (int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF)
    head = b"\0".join([bx.MAGIC_NUMBER, kind, os.fsencode(dfile), b""])
    return sha256_hex(head + source)


def _link(shared: str, cfile: str) -> bool:
    """Put a new link to ``shared`` at ``cfile`` (renamed into place); False if it cannot."""
    tmp = f"{cfile}.{os.getpid()}.link"
    try:
        os.link(shared, tmp)
        os.replace(tmp, cfile)  # atomic: a concurrent start reads the old file or this one
    except OSError:
        # Not there (not compiled yet, or gc removed it meanwhile), or links are refused
        # (EXDEV, EMLINK).
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True


def _store_and_link(shared: str, data: bytes, cfile: str) -> bool:
    """Keep ``data`` in the store as ``shared`` (unless another process did), link it."""
    from importlib import _bootstrap_external as bx

    try:
        if not os.path.exists(shared):
            os.makedirs(os.path.dirname(shared), exist_ok=True)
            bx._write_atomic(shared, data, 0o644)  # type: ignore[attr-defined]
    except OSError:
        return False
    return _link(shared, cfile)


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex (store.sha256_hex's twin: this file imports nothing
    from uvlaunch, since other Pythons run it as a script)."""
    # hashlib loads OpenSSL first (2.5 ms); CPython's builtin module gives the same digest.
    for module in ("_sha2", "_sha256"):  # 3.12+, then 3.8-3.11
        try:
            return str(__import__(module).sha256(data).hexdigest())
        except ImportError:
            continue
    import hashlib

    return hashlib.sha256(data).hexdigest()


def site_packages(env: str) -> list[str]:
    """The site-packages directories of the environment ``env``."""
    if sys.platform == "win32":
        candidates = [os.path.join(env, "Lib", "site-packages")]
    else:
        top = os.path.join(env, "lib")
        try:
            candidates = [os.path.join(top, d, "site-packages") for d in sorted(os.listdir(top))]
        except OSError:
            candidates = []
    return [path for path in candidates if os.path.isdir(path)]


if __name__ == "__main__":  # run by another Python: ENV_PYTHON -I bytecode.py [--store S] DIR...
    argv = sys.argv[1:]
    shared_store = None
    if argv[:1] == ["--store"]:
        shared_store, argv = argv[1], argv[2:]
    compile_dirs(argv, store=shared_store)
