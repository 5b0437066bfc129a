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


def read(path: str) -> dict[str, str] | None:
    """The stamp at ``path``, or None when it is missing or damaged."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        # surrogateescape: a path that is not UTF-8 is stored as its bytes (encode).
        text = raw.decode("utf-8", "surrogateescape")
    except OSError:
        return None
    parts = text.split("\0")
    # MAGIC, then pairs, then END and the empty string after the final NUL.
    if len(parts) < 3 or parts[0] != MAGIC or parts[-2:] != [END, ""] or len(parts) % 2 == 0:
        return None
    body = parts[1:-2]
    return dict(zip(body[0::2], body[1::2], strict=True))


def encode(fields: dict[str, str]) -> bytes:
    """The bytes of a stamp holding ``fields`` (no key or value may contain NUL)."""
    out = [MAGIC]
    for key, value in fields.items():
        if "\0" in key or "\0" in value:
            raise ValueError(f"stamp field {key!r} contains NUL")
        out += [key, value]
    out += [END, ""]
    return "\0".join(out).encode("utf-8", "surrogateescape")


def file_signature(path: str) -> str:
    """A cheap signature of a file's current version, or "-" when it is absent."""
    try:
        st = os.stat(path)
    except OSError:
        return "-"
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
