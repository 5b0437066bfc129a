"""Who each environment belongs to: records, and the index that finds them by file.

    records/<name>.json    who the environment belongs to: script path, device, inode,
                           birth time and owner, other names of the file
    index/ino-<dev>-<ino>  name of the environment of that file (lookup by inode)
    index/path-<hash>      name of the environment of that path (lookup after atomic saves)

Records and index entries change under ``store.index_lock`` and are written atomically
(store.write_atomic). A script path is stored as its bytes (paths.to_stored).
"""

from __future__ import annotations

import os

from uvlaunch.home import paths, samefile, stamp
from uvlaunch.home.env import Env
from uvlaunch.home.index import unindex_record
from uvlaunch.home.names import is_safe_name, safe_stem
from uvlaunch.home.store import index_lock, random_suffix, remove_file, sha256_hex, write_atomic
from uvlaunch.home.views import encode_views, views_of

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from uvlaunch.scripts.identity import (
        ScriptIdentity,  # what a script is: read by the layer above
    )


class Record:
    """Who an environment belongs to (immutable; a plain class, see above).

    ``script`` is the name the file was last launched by; ``names`` are other names of
    the same file (hard links, bind mounts) it was launched by too: one script, whose
    environment stays while any of them leads to the file. ``born`` and ``uid``: the
    file's birth time (ns) and owner, None where unknown (samefile.py). ``views``: the
    names each machine or container (a view, hosts.py) launched it by, by host key
    (views.py).
    """

    __slots__ = ("born", "created", "dev", "ino", "name", "names", "script", "uid", "views")

    def __init__(
        self,
        name: str,
        script: str,
        dev: int,
        ino: int,
        created: float,
        names: tuple[str, ...] = (),
        *,
        born: int | None = None,
        uid: int | None = None,
        views: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.name = name
        self.script = script
        self.dev = dev
        self.ino = ino
        self.created = created
        self.names = names
        self.born = born
        self.uid = uid
        self.views = views or {}

    def _key(self) -> tuple[object, ...]:
        views = tuple(sorted(self.views.items()))
        return (self.name, self.script, self.dev, self.ino, self.created, self.names, views)

    def with_names(
        self, names: tuple[str, ...], views: dict[str, tuple[str, ...]] | None = None
    ) -> Record:
        """The same record with other names of the file (and other ``views``)."""
        return Record(
            self.name,
            self.script,
            self.dev,
            self.ino,
            self.created,
            names,
            born=self.born,
            uid=self.uid,
            views=self.views if views is None else views,
        )

    def with_views(self, views: dict[str, tuple[str, ...]]) -> Record:
        """The same record with other ``views`` (views.py)."""
        return self.with_names(self.names, views)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Record(name={self.name!r}, script={self.script!r}, dev={self.dev}, "
            f"ino={self.ino}, created={self.created}, names={self.names!r}, "
            f"born={self.born}, uid={self.uid}, views={self.views!r})"
        )

    def live_name(self) -> str | None:
        """The first of the file's recorded names that still leads to it, if any (not to
        a new file given its inode: samefile.py)."""
        for path in (self.script, *self.names, *(n for v in self.views.values() for n in v)):
            if samefile.same_file(path, self.dev, self.ino, self.born):
                return path
        return None


MAX_NAMES = 32  # other names kept per script; the oldest go first


def read_record(root: str, name: str) -> Record | None:
    """The record of ``name``, or None when it is missing or damaged."""
    try:
        raw = stamp.read_bytes(paths.record_path(root, name))  # 3 system calls, not 7
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
        born, uid = data.get("born"), data.get("uid")
        return Record(
            name,
            script,
            dev,
            ino,
            float(data.get("created", 0.0)),
            names,
            born=born if _is_int(born) else None,
            uid=uid if _is_int(uid) else None,
            views=views_of(data.get("views")),
        )
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
        + (f', "born": {int(record.born)}' if record.born is not None else "")
        + (f', "uid": {int(record.uid)}' if record.uid is not None else "")
        + (f', "views": {encode_views(record.views, quote)}' if record.views else "")
        + "}"
    ).encode("ascii")


def record_names(root: str) -> list[str]:
    """Names of all environments that have a record file (readable or not)."""
    try:
        entries = os.listdir(paths.records_dir(root))
    except FileNotFoundError:
        return []
    return sorted(e[:-5] for e in entries if e.endswith(".json") and is_safe_name(e[:-5]))


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


def forget(env: Env) -> Record | None:
    """Drop the record of ``env`` and the index entries that lead to it; returns it."""
    root, name = env.root, env.name
    with index_lock(root):
        rec = read_record(root, name)
        if rec is not None:
            unindex_record(root, rec)
        remove_file(paths.record_path(root, name))
    return rec
