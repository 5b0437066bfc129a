"""Who each environment belongs to: records, and the index that finds them by file.

    records/<name>.json    who the environment belongs to: script path, device, inode
    index/ino-<dev>-<ino>  name of the environment of that file (lookup by inode)
    index/path-<hash>      name of the environment of that path (lookup after atomic saves)

Records and index entries change under ``store.index_lock`` and are written atomically
(store.write_atomic). A script path is stored as its bytes (paths.to_stored).
"""

from __future__ import annotations

import os

from uvlaunch.home import paths, pointer, stamp
from uvlaunch.home.index import index_record, path_key_path, read_index, unindex_record
from uvlaunch.home.names import is_safe_name, safe_stem
from uvlaunch.home.store import (
    index_lock,
    now,
    random_suffix,
    remove_file,
    sha256_hex,
    write_atomic,
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable

    from uvlaunch.scripts.identity import (
        ScriptIdentity,  # what a script is: read by the layer above
    )


class Record:
    """Who an environment belongs to (immutable; a plain class, see above).

    ``script`` is the name the file was last launched by; ``names`` are other names of
    the same file (hard links, bind mounts) it was launched by too: one script, whose
    environment stays while any of them leads to the file.
    """

    __slots__ = ("created", "dev", "ino", "name", "names", "script")

    def __init__(
        self,
        name: str,
        script: str,
        dev: int,
        ino: int,
        created: float,
        names: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.script = script
        self.dev = dev
        self.ino = ino
        self.created = created
        self.names = names

    def _key(self) -> tuple[str, str, int, int, float, tuple[str, ...]]:
        return (self.name, self.script, self.dev, self.ino, self.created, self.names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Record(name={self.name!r}, script={self.script!r}, dev={self.dev}, "
            f"ino={self.ino}, created={self.created}, names={self.names!r})"
        )

    def live_name(self) -> str | None:
        """The first of the file's recorded names that still leads to it, if any."""
        for path in (self.script, *self.names):
            if _same_file(path, self.dev, self.ino):
                return path
        return None


MAX_NAMES = 32  # other names kept per script; the oldest go first


def read_record(root: str, name: str) -> Record | None:
    """The record of ``name``, or None when it is missing or damaged."""
    try:
        with open(paths.record_path(root, name), "rb") as f:
            raw = f.read()
    except OSError:
        return None
    import json  # only now: a first launch looks for records that do not exist

    try:
        data = json.loads(raw.decode("utf-8"))
        script, dev, ino = data["script"], data["dev"], data["ino"]
        if not (isinstance(script, str) and _is_int(dev) and _is_int(ino)):
            return None
        # A lone surrogate outside the escapes (valid JSON, not a path) raises ValueError.
        script = paths.from_stored(script)
        if not os.path.isabs(script) or "\0" in script or os.path.normpath(script) != script:
            return None  # "/x/", "/x/../y": no path uvlaunch writes
        names = tuple(paths.from_stored(n) for n in data.get("names", ()) if isinstance(n, str))
        if any(not os.path.isabs(n) or os.path.normpath(n) != n for n in names):
            return None
        return Record(name, script, dev, ino, float(data.get("created", 0.0)), names)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def write_record(root: str, record: Record) -> None:
    # No fsync (store.write_atomic): a record lost to a power cut is recovered (recover).
    write_atomic(root, paths.record_path(root, record.name), encode_record(record), durable=False)


def encode_record(record: Record) -> bytes:
    """The record as JSON, the same text ``json.dumps`` gives."""
    # Written on every first launch; the json package imports re (5 ms), while the C
    # string encoder it uses itself is free to import.
    try:
        from _json import encode_basestring_ascii as quote
    except ImportError:  # pragma: no cover - CPython always has _json
        from json import dumps as quote
    script = quote(paths.to_stored(record.script))
    names = ", ".join(quote(paths.to_stored(n)) for n in record.names)
    return (
        f'{{"version": 1, "name": {quote(record.name)}, "script": {script}, '
        f'"dev": {int(record.dev)}, "ino": {int(record.ino)}, '
        f'"created": {float(record.created)!r}'
        + (f', "names": [{names}]' if record.names else "")
        + "}"
    ).encode("ascii")


def record_names(root: str) -> list[str]:
    """Names of all environments that have a record file (readable or not)."""
    try:
        entries = os.listdir(paths.records_dir(root))
    except FileNotFoundError:
        return []
    return sorted(e[:-5] for e in entries if e.endswith(".json") and is_safe_name(e[:-5]))


def lookup(root: str, script: ScriptIdentity) -> tuple[Record | None, str]:
    """Find the environment of ``script``: (record, how), reading a constant number of files.

    ``how`` is "same" (found as recorded), "hardlink" (found through another link to the
    recorded file), "moved" (same inode, new path) or "saved" (same path, new inode).
    Call with the index lock held when the result may lead to a write.
    """
    name = read_index(paths.inode_key_path(root, script.dev, script.ino))
    if name is not None:
        rec = read_record(root, name)
        if rec is not None and (rec.dev, rec.ino) == (script.dev, script.ino):
            if rec.script == script.path:
                return rec, "same"
            if _same_file(rec.script, rec.dev, rec.ino):
                return rec, "hardlink"
            return rec, "moved"
    name = read_index(path_key_path(root, script.path))
    if name is not None:
        rec = read_record(root, name)
        if rec is not None and rec.script == script.path:
            if _same_file(rec.script, rec.dev, rec.ino) or rec.ino == script.ino:
                # The same path and inode under another device: the same file seen by
                # another NFS client of a shared home. Its record stays as it is.
                return rec, "same"
            return rec, "saved"
    return None, "new"


def _same_file(path: str, dev: int, ino: int) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def new_name(root: str, script: ScriptIdentity) -> str:
    """The name a new environment for ``script`` gets: its stem plus a hash of its identity.

    Deterministic, so that ``where`` can name an environment before it exists; a name
    already taken (a reused inode at the same path) gets a longer, random suffix.
    """
    name = preferred_name(script)
    while os.path.lexists(paths.record_path(root, name)) or os.path.lexists(
        paths.env_dir(root, name)
    ):
        name = f"{name[:-4]}{random_suffix(8)}"
    return name


def preferred_name(script: ScriptIdentity) -> str:
    """The script's stem plus ten hex digits of a hash of its device, inode and path."""
    digest = sha256_hex(
        f"{script.dev}:{script.ino}:{script.path}".encode("utf-8", "surrogateescape")
    )
    return f"{safe_stem(script.path)}-{digest[:10]}"


def recover(root: str, script: ScriptIdentity) -> Record | None:
    """After a failed lookup: the environment of ``script`` whose record was lost or damaged.

    Candidates are the names its index entries still give and the name it would get; one
    is taken when its record names this file (the index was damaged), when its record is
    unreadable and its stamp names this file, or, with the stamp unreadable too, when it
    is the very name this file would get.
    """
    candidates = [
        read_index(paths.inode_key_path(root, script.dev, script.ino)),
        read_index(path_key_path(root, script.path)),
        preferred_name(script),
    ]
    for i, name in enumerate(candidates):
        if name is None:
            continue
        rec = read_record(root, name)
        if rec is not None:
            # Readable, but the index that leads to it was damaged or lost.
            if (rec.dev, rec.ino) == (script.dev, script.ino) or rec.script == script.path:
                return rec
            continue  # another file's
        env = pointer.current(root, name)
        fields = None if env is None else stamp.read(paths.stamp_path(env))
        if fields is not None:
            same_file = (fields.dev, fields.ino) == (str(script.dev), str(script.ino))
            if not (same_file or fields.script == paths.to_stored(script.path)):
                continue
        elif i < 2 or not (
            os.path.lexists(paths.record_path(root, name))
            or os.path.lexists(paths.env_dir(root, name))
        ):
            continue
        return Record(name, script.path, script.dev, script.ino, now())
    return None


def forget(root: str, name: str) -> Record | None:
    """Drop the record of ``name`` and the index entries that lead to it; returns it."""
    with index_lock(root):
        rec = read_record(root, name)
        if rec is not None:
            unindex_record(root, rec)
        remove_file(paths.record_path(root, name))
    return rec


def register(
    root: str, ident: ScriptIdentity, *, waiting: Callable[[str], None] | None = None
) -> Record:
    """Find the environment record of ``ident``, creating or updating it as needed.

    ``waiting`` is told the index lock's path when another process holds it long.
    """
    names: tuple[str, ...] = ()
    with index_lock(root, waiting):
        rec, how = lookup(root, ident)
        if rec is None:
            # A damaged record or index must not cost the script its environment.
            found = recover(root, ident)
            name = found.name if found else new_name(root, ident)
            created = found.created if found else now()
        elif how == "hardlink" and ident.path not in rec.names:
            # Another name of the same file: one script, known by every name it had.
            names = (*rec.names, ident.path)[-MAX_NAMES:]
            rec = Record(rec.name, rec.script, rec.dev, rec.ino, rec.created, names)
            write_record(root, rec)
            return rec
        elif how in ("moved", "saved"):
            # A move keeps the inode, an editor's atomic save keeps the path: record the new one.
            unindex_record(root, rec)
            name, created = rec.name, rec.created
            if how == "moved":  # the other names of the file still lead to it
                names = tuple(n for n in rec.names if n != ident.path)
        else:
            return rec
        rec = Record(name, ident.path, ident.dev, ident.ino, created, names)
        write_record(root, rec)
        index_record(root, rec)
        return rec
