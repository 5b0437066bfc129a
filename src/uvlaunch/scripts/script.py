"""What a script is, as read from disk: who it is, its block and its lock file."""

from __future__ import annotations

import os
import sys

from uvlaunch.errors import ScriptError
from uvlaunch.home import stamp, store, trust
from uvlaunch.home.names import lock_file
from uvlaunch.scripts import identity, metadata, relative
from uvlaunch.scripts.identity import ScriptIdentity

# Starting uv with its output captured, then explaining a failure, needs posix_spawn
# and a pipe; elsewhere the script is checked first and uv writes to the terminal.
SPECULATE = sys.platform != "win32"


class Script:
    """A script read from disk: its block found, its TOML parsed only when needed."""

    # A plain class: dataclasses imports re and inspect (12 ms) on the launch path.
    __slots__ = ("_meta", "_resolved", "block", "ident", "lock_hash", "lock_sig", "text")

    def __init__(
        self, ident: ScriptIdentity, text: str, block: str | None, lock_sig: str, lock_hash: str
    ) -> None:
        self.ident = ident
        self.text = text
        self.block = block
        self.lock_sig = lock_sig
        self.lock_hash = lock_hash
        self._meta: metadata.ScriptMetadata | None = None
        self._resolved: str | None = None

    @property
    def locked(self) -> bool:
        """Whether the script has a lock file (``uv lock --script``) beside it."""
        return self.lock_sig != "-"

    def resolved(self) -> str:
        """What the block's relative paths resolve to from where the script is now."""
        if self._resolved is None:
            self._resolved = relative.resolved(self.block, self.ident.path)
        return self._resolved

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
    ident.knows_block(block)
    lock_path = lock_file(ident.path)
    lock_sig = stamp.file_signature(lock_path)
    lock_hash = "-"
    if lock_sig != "-" or os.path.islink(lock_path):
        # uv installs what the lock file says: it must be as trusted as the script, and
        # a file that can be read (a FIFO would block, /dev/zero never end). A dangling
        # symlink too: its owner may point it anywhere once this check is done.
        try:
            owner = os.stat(ident.path).st_uid
        except OSError:
            owner = -1
        problem = trust.side_file_problem(lock_path, owner)
        if problem is not None:
            raise ScriptError(problem)
    if lock_sig != "-":
        lock_hash = _read_side_file(lock_path, lock_sig, owner)
    script = Script(ident, text, block, lock_sig, lock_hash)
    if not SPECULATE:
        script.meta()
    return script


def _read_side_file(path: str, checked: str, owner: int) -> str:
    """The SHA-256 of the file ``path``, which must still be the one checked (signature
    ``checked``, beside a script of ``owner``): without blocking on a FIFO swapped in
    meanwhile, or reading another."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise ScriptError(f"{path}: cannot read the script's lock file: {e.strerror}") from None
    try:
        # Checked by path, read by descriptor: the same file, still passing the check.
        st = os.fstat(fd)
        again = trust.side_file_problem(path, owner)
        if again is not None:
            raise ScriptError(again)
        if stamp.signature_of(st) != checked or stamp.file_signature(path) != checked:
            raise ScriptError(f"{path}: changed while it was being checked; try again")
        with os.fdopen(os.dup(fd), "rb") as f:
            return store.sha256_hex(f.read(trust.MAX_SIDE_FILE + 1))
    except OSError as e:
        raise ScriptError(f"{path}: cannot read the script's lock file: {e.strerror}") from None
    finally:
        os.close(fd)
