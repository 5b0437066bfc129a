"""What a script is, as read from disk: who it is, its block and its lock file."""

from __future__ import annotations

import os
import sys

from uvlaunch.errors import ScriptError
from uvlaunch.home import paths, stamp, store, trust, way
from uvlaunch.home.names import lock_file
from uvlaunch.scripts import identity, metadata, relative
from uvlaunch.scripts.identity import ScriptIdentity

# Starting uv with its output captured, then explaining a failure, needs posix_spawn
# and a pipe; elsewhere the script is checked first and uv writes to the terminal.
SPECULATE = sys.platform != "win32"
POSIX = sys.platform != "win32"


class Script:
    """A script read from disk: its block found, its TOML parsed only when needed."""

    # A plain class: dataclasses imports re and inspect (12 ms) on the launch path.
    __slots__ = (
        "_lock_data",
        "_meta",
        "_resolved",
        "block",
        "ident",
        "lock_hash",
        "lock_sig",
        "text",
    )

    def __init__(
        self,
        ident: ScriptIdentity,
        text: str,
        block: str | None,
        lock_sig: str,
        lock_hash: str,
        lock_data: bytes | None = None,
    ) -> None:
        self.ident = ident
        self.text = text
        self.block = block
        self.lock_sig = lock_sig
        self.lock_hash = lock_hash
        self._lock_data = lock_data  # the lock file's bytes, as checked and hashed
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

    def for_uv(self, root: str) -> ForUv:
        """The path to give uv for this script, in a ``with`` (``ForUv``): the script's own,
        or a private copy where another user could put a lock file beside it."""
        return ForUv(self, root)

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
    lock_data = None
    if lock_sig != "-":
        lock_data = _read_side_file(lock_path, lock_sig, owner)
        lock_hash = store.sha256_hex(lock_data)
    script = Script(ident, text, block, lock_sig, lock_hash, lock_data)
    if not SPECULATE:
        script.meta()
    return script


def _read_side_file(path: str, checked: str, owner: int) -> bytes:
    """The content of the file ``path``, which must still be the one checked (signature
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
            return f.read(trust.MAX_SIDE_FILE + 1)
    except OSError as e:
        raise ScriptError(f"{path}: cannot read the script's lock file: {e.strerror}") from None
    finally:
        os.close(fd)


def beside_is_private(path: str) -> bool:
    """Whether no other user can create, rename or delete a name beside the file ``path``:
    its directory is root's or the user's, writable by nobody else (sticky or not), and
    the way to it passes ssh's walk (way.py)."""
    if not POSIX:
        return True
    folder = os.path.dirname(path)
    try:
        st = os.stat(folder)
    except OSError:
        return False
    if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
        return False
    return way.walk_problem(folder) is None


class ForUv:
    """``with script.for_uv(root) as path:``: the path uv is given for the script.

    uv reads the lock file beside that path by name, after uvlaunch checked it. Where no
    other user can make a name beside the script (``beside_is_private``), that is the
    script's own path. Elsewhere (a sticky ``/tmp``, a directory another user owns or
    may write) another user could create ``S.lock`` between the check and uv's read, or
    between two reads of uv's own: uv is given a copy in the home's ``tmp/`` instead,
    of the script's text as read and of the lock file as checked (or none), removed once
    uv is done. So uv never reads a lock file uvlaunch did not check.
    """

    __slots__ = ("_made", "_root", "_script")

    def __init__(self, script: Script, root: str) -> None:
        self._script = script
        self._root = root
        self._made: str | None = None

    def __enter__(self) -> str:
        script = self._script
        if beside_is_private(script.ident.path):
            return script.ident.path
        if script.resolved():
            raise ScriptError(
                f"{metadata.shown(script.ident.invoked)}: names relative paths in its block, "
                "in a directory other users can write to (they could put files there that "
                "uv would read); move it, with what it names, to a directory only you can "
                "write to"
            )
        copy = os.path.join(paths.tmp_dir(self._root), f"uv-{store.random_suffix(16)}.py")
        self._made = copy
        store.write_atomic(
            self._root, copy, script.text.encode("utf-8", "surrogateescape"), durable=False
        )
        if script._lock_data is not None:
            store.write_atomic(self._root, lock_file(copy), script._lock_data, durable=False)
        return copy

    def __exit__(self, *exc: object) -> None:
        if self._made is not None:
            for path in (self._made, lock_file(self._made)):
                try:
                    os.unlink(path)
                except OSError:
                    pass  # tmp/ is swept of what is an hour old (sweep.py)
            self._made = None
