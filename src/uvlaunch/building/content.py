"""What a generation holds, as a key: the content identity that sharing compares.

Two generations with the same key were built the same way from the same things: the
same interpreter (its resolved path, version, file signature and this machine's
platform), the same uv, and the same resolved set of distributions (each one's name,
version, wheel tags, source as PEP 610 records it, and the hashes of the files its
``RECORD`` lists). Files outside site-packages (entry points in ``bin/``, whose shebang
names the generation's own path) and byte-compiled files are left out: they differ
from one generation's path to another's, not in what was installed.

The key and what it was made from are written into the generation,
``envs/<name>/g<N>/uvlaunch-content``, before its stamp (complete.finish): a generation
without one (built before this existed) has no content identity, and is never taken
for another. This module owns that file's format.
"""

from __future__ import annotations

import os

from uvlaunch.building import machines, venv
from uvlaunch.home import paths, stamp, store

MAGIC = "uvlaunch-content 1"
NAME = "uvlaunch-content"


def path_of(generation: str) -> str:
    """Where the content identity of the generation directory ``generation`` is kept."""
    return os.path.join(generation, NAME)


def describe(generation: str, uv_version: str) -> list[str]:
    """The lines that identify what ``generation`` holds, in a stable order."""
    python = os.path.realpath(paths.env_python(generation))
    lines = [
        f"python {python}",
        f"python-version {venv.python_version(generation)}",
        f"python-signature {_signature(python)}",
        f"platform {machines.platform_tag()}",
        f"uv {uv_version}",
    ]
    dists = []
    for top, entry in venv.dist_infos(generation):
        dists.append(_distribution(os.path.join(top, entry), entry))
    lines += sorted(dists)
    return lines


def key_of(lines: list[str]) -> str:
    """The key of a generation described by ``lines`` (``describe``): 64 hex digits."""
    from hashlib import sha256

    return sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def record(root: str, generation: str, uv_version: str) -> str:
    """Write the content identity of the freshly synced ``generation``; returns its key."""
    lines = describe(generation, uv_version)
    key = key_of(lines)
    text = "\n".join([MAGIC, f"key {key}", *lines, ""])
    data = text.encode("utf-8", "surrogateescape")
    # Not durable: a launch does not wait for the disk; the stamp, written after it,
    # is made durable with it by the background compiler (store.make_durable).
    store.write_atomic(root, path_of(generation), data, durable=False)
    return key


def read(generation: str) -> str | None:
    """The key recorded in ``generation``; None when it has none or it is damaged
    (then it shares with nothing)."""
    try:
        with open(path_of(generation), "rb") as f:
            text = f.read(1 << 22).decode("utf-8", "surrogateescape")
    except OSError:
        return None
    lines = text.split("\n")
    if len(lines) < 3 or lines[0] != MAGIC or not lines[1].startswith("key "):
        return None
    key = lines[1][len("key ") :]
    # A file cut short or edited by hand describes something else: trust neither.
    return key if key_of([line for line in lines[2:] if line]) == key else None


def _signature(python: str) -> str:
    # The interpreter's inode, size and mtime: a Python rebuilt in place is another one.
    return stamp.file_signature(python)


def _distribution(dist_info: str, entry: str) -> str:
    """One line for an installed distribution: name, version, tags, source, files."""
    from hashlib import sha256

    name, _, version = entry[: -len(".dist-info")].partition("-")
    tags = ",".join(sorted(_field_values(os.path.join(dist_info, "WHEEL"), "Tag")))
    source = _read(os.path.join(dist_info, "direct_url.json")).strip() or "index"
    files = sorted(
        line
        for line in _read(os.path.join(dist_info, "RECORD")).splitlines()
        # Entry points live outside site-packages and name the generation's path;
        # files without a hash (RECORD itself, byte-compiled files) are not content.
        if not line.startswith("../") and ",sha256=" in line and "__pycache__" not in line
    )
    digest = sha256("\n".join(files).encode("utf-8", "surrogateescape")).hexdigest()
    source_key = sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"dist {venv.normalize(name)} {version} {tags or '-'} {source_key} {digest}"


def _field_values(path: str, field: str) -> list[str]:
    prefix = f"{field}:"
    return [
        line[len(prefix) :].strip() for line in _read(path).splitlines() if line.startswith(prefix)
    ]


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape")
    except OSError:
        return ""
