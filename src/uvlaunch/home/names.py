"""Names uvlaunch makes and reads back: environment names, and a script's lock file.

Every name read from the home (an index entry, a directory listing, a warm record) is
checked with ``is_safe_name`` before it is used as a path component. Imported by the
fast path: standard library core only.
"""

from __future__ import annotations

import os

from uvlaunch.contract import MAX_NAME


def lock_file(script_path: str) -> str:
    """Where ``uv lock --script`` keeps the script's lock file: beside the real file."""
    return script_path + ".lock"


MAX_STEM = 40


def safe_stem(path: str) -> str:
    """A readable, safe single path component derived from the script's file name."""
    base = os.path.basename(path)
    stem = base[:-3] if base.endswith(".py") and len(base) > 3 else base
    folded = stem
    if not stem.isascii():  # unicodedata costs 2 ms to import; most names do not need it
        import unicodedata

        folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    chars = [c if (c.isalnum() or c in "-_") else "_" for c in folded]
    clean = "".join(chars).strip("_-")
    return clean[:MAX_STEM] or "script"


def is_safe_name(name: str) -> bool:
    """Whether ``name`` is an environment name uvlaunch could have made."""
    # str methods, not a loop over the characters: list and gc check 10,000 names.
    return (
        0 < len(name) <= MAX_NAME
        and name.isascii()
        and name[0].isalnum()
        and name.replace("-", "").replace("_", "").isalnum()
    )
