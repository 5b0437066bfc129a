"""Scripts that are not files: ``uvlaunch -`` (standard input), ``<(curl ...)``, a pipe.

Such a script can be read once and has no lasting identity, so its environment is
keyed by what decides it: the content of its ``# /// script`` block (and UV_PYTHON).
The block alone is written to ``piped/<key>.py`` in the home, and that file is the
"script" the environment belongs to (so the same block reuses the same environment,
and a different block gets another); the whole script is written to a temporary file
in ``tmp/``, which is what runs (locked while it runs, deleted by gc after). ``list``
shows these environments as ``piped``, and ``gc`` removes one not launched for 30 days.
"""

from __future__ import annotations

import os
import sys

from uvlaunch.errors import HomeError, ScriptError
from uvlaunch.home import locks, paths, store
from uvlaunch.scripts import metadata

UNUSED_DAYS = 30
MAX_BYTES = metadata.MAX_SCRIPT  # the most read of a script from a pipe or a URL
RUN_PREFIX = "piped-"  # tmp/piped-<random>.py: a piped script's file while it runs


def materialize(invoked: str) -> tuple[str, str]:
    """Read the script once: (its block's file, keying the environment; the file to run)."""
    shown = "<stdin>" if invoked == "-" else metadata.shown(invoked)
    limit = MAX_BYTES + 1  # an endless pipe (`cat /dev/zero`) ends here
    try:
        if invoked == "-":
            data = sys.stdin.buffer.read(limit)
        else:
            with open(invoked, "rb") as f:
                data = f.read(limit)
    except OSError as e:
        raise ScriptError(f"{shown}: cannot read the script: {e.strerror}") from None
    return from_bytes(writable_home(shown, "a script from a pipe"), data, shown)


def writable_home(shown: str, what: str) -> str:
    """The home, where ``what`` (``shown``) is kept to run: HomeError saying so when it
    cannot be written (a read-only home: readonly.py)."""
    try:
        return store.open_home()
    except HomeError as e:
        raise HomeError(
            f"{shown}: {what} is kept in uvlaunch's home to run, which cannot be written "
            f"here ({e}); save it to a file where the home can be written, and launch that"
        ) from None


def from_bytes(root: str, data: bytes, shown: str) -> tuple[str, str]:
    """The files of the script ``data`` (``shown`` names it in errors): (its block's
    file, keying the environment; the file to run)."""
    text = metadata.decode(data, shown)  # ScriptError over the limit
    block = metadata.find_block(text, shown)
    key = store.sha256_hex(
        f"{block}\0{os.environ.get('UV_PYTHON', '')}".encode("utf-8", "surrogateescape")
    )[:20]
    block_file = os.path.join(paths.piped_dir(root), f"piped-{key}.py")
    wanted = block_text(block).encode("utf-8", "surrogateescape")
    try:
        with open(block_file, "rb") as f:
            same = f.read() == wanted
    except OSError:
        same = False
    if not same:
        store.write_atomic(root, block_file, wanted, durable=False)  # rewritten if lost
    return block_file, run_file(root, data)


def run_file(root: str, data: bytes) -> str:
    """Put ``data`` into a new file of its own in ``tmp/``, which is what runs.

    The file is locked shared before anything is written to it, and the lock is kept
    past the exec (so the script holds it while it runs): gc and ``remove --all`` delete
    a run file whose lock they can take, at once, and never one in use.
    """
    run_path = os.path.join(paths.tmp_dir(root), f"{RUN_PREFIX}{store.random_suffix(16)}.py")
    use = locks.Lock(run_path, shared=True)
    use.acquire()
    fd = use.fd
    try:
        if fd is None:  # no flock here (Windows): written as any file
            store.write_atomic(root, run_path, data, durable=False)
        else:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
    except OSError as e:
        use.release()
        store.remove_file(run_path)
        raise ScriptError(f"{run_path}: cannot write the script to run: {e.strerror}") from None
    use.detach()
    return run_path


def block_text(block: str | None) -> str:
    """A file holding only the block ``block`` (or no block), as uv reads it back."""
    if block is None:
        return "# a script without a `# /// script` block, read from a pipe\n"
    lines = ["# /// script"]
    lines += [f"# {line}" if line else "#" for line in block.split("\n")]
    if lines[-1] == "#":
        lines.pop()  # the block's last newline, which find_block keeps
    lines.append("# ///")
    return "\n".join(lines) + "\n"


def is_piped_file(root: str, script: str | None) -> bool:
    """Whether ``script`` is the block file of a piped script's environment."""
    return script is not None and os.path.dirname(script) == paths.piped_dir(root)


def is_piped(invoked: str) -> bool:
    """Whether ``invoked`` is a pipe (``<(...)``, ``/dev/stdin`` on a pipe): read it once."""
    import stat

    try:
        mode = os.stat(invoked).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
