"""Scripts that are not files: ``uvlaunch -`` (standard input), ``<(curl ...)``, a pipe.

Such a script can be read once and has no lasting identity, so its environment is
keyed by what decides it: the content of its ``# /// script`` block (and UV_PYTHON).
The block alone is written to ``piped/<key>.py`` in the home, and that file is the
"script" the environment belongs to (so the same block reuses the same environment,
and a different block gets another); the whole script is written to a temporary file
in ``tmp/``, which is what runs. ``list`` shows these environments as ``piped``, and
``gc`` removes one not launched for 30 days.
"""

from __future__ import annotations

import os
import sys

from uvlaunch.errors import ScriptError
from uvlaunch.home import paths, store
from uvlaunch.scripts import metadata

UNUSED_DAYS = 30


def materialize(invoked: str) -> tuple[str, str]:
    """Read the script once: (its block's file, keying the environment; the file to run)."""
    shown = "<stdin>" if invoked == "-" else metadata.shown(invoked)
    limit = metadata.MAX_SCRIPT + 1  # an endless pipe (`cat /dev/zero`) ends here
    try:
        if invoked == "-":
            data = sys.stdin.buffer.read(limit)
        else:
            with open(invoked, "rb") as f:
                data = f.read(limit)
    except OSError as e:
        raise ScriptError(f"{shown}: cannot read the script: {e.strerror}") from None
    text = metadata.decode(data, shown)
    block = metadata.find_block(text, shown)
    root = store.open_home()
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
    # What runs: the script as read, in a file of its own (gc deletes it after an hour).
    run_path = os.path.join(paths.tmp_dir(root), f"piped-{store.random_suffix(16)}.py")
    store.write_atomic(root, run_path, data, durable=False)
    return block_file, run_path


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
