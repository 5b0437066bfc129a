"""The sync stamp: what an environment was last synced from, written last.

A stamp inside an environment means the environment is complete. It is a flat
NUL-separated list of keys and values, because ``json`` would cost the warm fast path
5 ms of imports; a stamp that does not end in the end marker (a crash, a full disk)
reads as missing, so the environment counts as incomplete and is repaired.

Its modification time is the environment's last launch: every launch touches it (the
native launcher too), and what is no launch (``sync``, ``upgrade``) keeps the time it
had; NEVER while the environment was only ever synced.
"""

from __future__ import annotations

import os

from uvlaunch import contract

MAGIC = contract.STAMP_MAGIC
END = contract.STAMP_END
NEVER = 0  # the stamp's time (ns) while nothing was ever launched in its environment


# What a missing signature reads as: "no such file".
_DEFAULTS = {"lock": "-", "lockhash": "-", "uvsig": "-", "pysig": "-"}


class Stamp:
    """What a generation was last synced from: the one spelling of the stamp's keys.

    Values are kept as stored (strings; paths as ``paths.to_stored`` makes them). A
    script without a ``# /// script`` block is ``block = None`` (stored as ``noblock``).
    """

    # A plain class: dataclasses imports re and inspect (12 ms) on the launch path.
    __slots__ = FIELDS = (
        "script",  # the script's resolved path, one of its names (records.py)
        "dev",  # the script file's device and inode
        "ino",
        "lock",  # file_signature of its lock file, or "-"
        "lockhash",  # SHA-256 of the lock file, or "-"
        "uv",  # the uv binary that synced it, its signature and version
        "uvsig",
        "uvversion",
        "python",  # the interpreter's version, and the signature of its file
        "pysig",
        "block",  # the block it was synced for; None: the script has none
        "resolved",  # what the block's relative paths resolved to (scripts/relative.py)
        "synced",  # when it was created (time.time())
        "size",  # sizes measured when it was built in the foreground, or ""
        "own",
        "compiled",  # "1" when it was byte-compiled before it was stamped
    )
    script: str
    dev: str
    ino: str
    lock: str
    lockhash: str
    uv: str
    uvsig: str
    uvversion: str
    python: str
    pysig: str
    block: str | None
    resolved: str
    synced: str
    size: str
    own: str
    compiled: str

    def __init__(self, **values: str | None) -> None:
        for key in self.FIELDS:
            value = values.pop(key, None)
            setattr(self, key, value if value is not None or key == "block" else "")
            if value is None and key in _DEFAULTS:
                setattr(self, key, _DEFAULTS[key])
        if values:
            raise TypeError(f"not a stamp field: {', '.join(values)}")

    def replace(self, **changes: str | None) -> Stamp:
        """A copy with ``changes``."""
        return Stamp(**{**{k: getattr(self, k) for k in self.FIELDS}, **changes})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stamp) and all(
            getattr(self, k) == getattr(other, k) for k in self.FIELDS
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def is_about(self, st: os.stat_result) -> bool:
        """Whether it was synced for the file ``st`` describes: its inode.

        Not its device: NFS clients see the same file under different device numbers
        (docs/how-it-works.md, "Many machines, one home"); callers compare the path too.
        """
        return self.ino == str(st.st_ino)

    def encode(self) -> bytes:
        """The stamp's bytes: MAGIC, keys and values, END, each ending in NUL."""
        out = [MAGIC]
        for key in self.FIELDS:
            value = getattr(self, key)
            if key == "block":
                key, value = ("noblock", "1") if value is None else ("block", value)
            if "\0" in value:
                raise ValueError(f"stamp field {key!r} contains NUL")
            out += [key, value]
        out += [END, ""]
        return "\0".join(out).encode("utf-8", "surrogateescape")


def read_bytes(path: str) -> bytes:
    """A small file of the home, read with three system calls (open, read, close) where
    ``open()`` makes seven: ``list`` and ``gc`` read a stamp, a record and a compiled
    note for each of 10,000 environments. OSError as ``open`` raises it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks = [os.read(fd, _CHUNK)]
        while len(chunks[-1]) == _CHUNK:  # a short read is the end of a regular file
            chunks.append(os.read(fd, _CHUNK))
    finally:
        os.close(fd)
    return b"".join(chunks)


_CHUNK = 65536


def read(path: str) -> Stamp | None:
    """The stamp at ``path``, or None when it is missing or damaged."""
    try:
        raw = read_bytes(path)
        # surrogateescape: a path that is not UTF-8 is stored as its bytes (encode).
        text = raw.decode("utf-8", "surrogateescape")
    except OSError:
        return None
    parts = text.split("\0")
    # MAGIC, then pairs, then END and the empty string after the final NUL.
    if len(parts) < 3 or parts[0] != MAGIC or parts[-2:] != [END, ""] or len(parts) % 2 == 0:
        return None
    body = parts[1:-2]
    stored = dict(zip(body[0::2], body[1::2], strict=True))
    values: dict[str, str | None] = {k: stored[k] for k in Stamp.FIELDS if k in stored}
    if stored.get("noblock") == "1":
        values["block"] = None
    elif "block" not in stored:
        values["block"] = None  # a stamp with neither: damaged, but never a block
    return Stamp(**values)


def file_signature(path: str) -> str:
    """A cheap signature of a file's current version, or "-" when it is absent."""
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return signature_of(st)


def signature_of(st: os.stat_result) -> str:
    """``file_signature`` of the file whose stat is ``st`` (an open descriptor's)."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def launched_ns(path: str) -> int | None:
    """The last launch recorded by the stamp at ``path`` (its mtime, ns); None if absent."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def last_launched(path: str) -> float | None:
    """The last launch in seconds, or None: no stamp, or never launched."""
    ns = launched_ns(path)
    return None if ns is None or ns == NEVER else ns / 1e9


def set_launched(path: str, ns: int | None) -> None:
    """Give the stamp at ``path`` the launch time ``ns`` (None: NEVER) back."""
    when = NEVER if ns is None else ns
    try:
        os.utime(path, ns=(when, when))
    except OSError:
        pass  # no stamp (the sync failed): nothing to keep


def is_complete(stamp_file: str) -> bool:
    """What launcher.c checks of the stamp: it starts and ends as a whole stamp does."""
    try:
        with open(stamp_file, "rb") as f:
            head = f.read(len(MAGIC) + 1)
            f.seek(-5, os.SEEK_END)
            tail = f.read(5)
    except OSError:
        return False
    return head == MAGIC.encode() + b"\0" and tail == b"\0" + END.encode() + b"\0"
