"""Which generations share another's packages, both ways: this module owns the files.

A *thin* generation (building/thin.py) holds its own environment's files (pyvenv.cfg,
``bin/``, its stamp and use lock) and takes its packages from a complete generation of
another environment of the same home, its *source*. Each side says so:

- ``envs/B/gM/uvlaunch-shared``: ``uvlaunch-shared 1``, the source's environment name
  and generation, one per line (what the thin one is built on);
- ``envs/A/sharers/gN.B.gM``: a hard link of the former (no inode of its own); its
  name says that ``B``'s ``gM`` shares ``A``'s ``gN`` (made while the source's use lock
  is held, so that no gc can delete the source between the decision and the reference).

A reference counts only while both agree (the thin generation exists and names the
source): one left behind by a thin generation since deleted is stale, and is dropped by
the next look under the source's exclusive use lock (``referrers(tidy=True)``).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from uvlaunch.home import paths, store
from uvlaunch.home.names import is_safe_name

MAGIC = "uvlaunch-shared 1"
NAME = "uvlaunch-shared"
SHARERS = "sharers"


def source_file(generation: str) -> str:
    return os.path.join(generation, NAME)


def sharers_dir(env_dir: str) -> str:
    """Where the references to the generations of ``envs/NAME`` (``env_dir``) are."""
    return os.path.join(env_dir, SHARERS)


def source_of(generation: str) -> tuple[str, str] | None:
    """(environment name, generation) that the thin ``generation`` is built on, or None
    when it is a generation of its own."""
    try:
        # Never through a link, and only a file of the user's that no one else may write:
        # another user's would make a generation of the user's seem thin (sharers.py).
        fd = os.open(source_file(generation), os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except OSError:
        return None
    try:
        if not _own(os.fstat(fd), stat.S_ISREG):
            return None
        lines = os.read(fd, 512).decode("utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)
    if len(lines) < 3 or lines[0] != MAGIC:
        return None
    name, generation_name = lines[1], lines[2]
    if not is_safe_name(name) or not _is_generation(generation_name):
        return None
    return name, generation_name


def add(root: str, source: str, thin: str) -> str:
    """Note that the generation directory ``thin`` shares ``source``; returns the reference's
    path (for the caller to drop if the thin generation is not made after all)."""
    src_name, src_gen = _split(source)
    thin_name, thin_gen = _split(thin)
    top = sharers_dir(paths.env_dir(root, src_name))
    try:
        os.mkdir(top, 0o700)
    except FileExistsError:
        pass
    if not _own_dir(top):
        # Another user's, or a link: no reference is written through it (the caller
        # builds as usual).
        raise PermissionError(errno.EPERM, "not a directory of the user's own", top)
    ref = os.path.join(top, f"{src_gen}.{thin_name}.{thin_gen}")
    try:
        # A hard link of the thin side (write_source, first): its name is what counts,
        # and it costs no inode of its own.
        os.link(source_file(thin), ref)
    except FileExistsError:
        pass  # a stale one of a thin generation of that name since deleted: it counts again
    return ref


def write_source(root: str, thin: str, source: str) -> None:
    """Write ``thin``'s side: the generation it is built on (before ``add``)."""
    name, generation = _split(source)
    data = f"{MAGIC}\n{name}\n{generation}\n".encode()
    store.write_atomic(root, source_file(thin), data, durable=False)


def referrers(generation: str, *, tidy: bool = False) -> list[str]:
    """The thin generations (``NAME/gM``) that share the generation directory
    ``generation`` (``HOME/envs/NAME/gN``) now. ``tidy``: drop stale references (call
    with its use lock held exclusively)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(generation)))
    name, gen = _split(generation)
    top = sharers_dir(paths.env_dir(root, name))
    if not _own_dir(top):
        return []  # none, or planted: never listed (nor tidied) through a link
    try:
        entries = os.listdir(top)
    except OSError:
        return []
    found = []
    for entry in sorted(entries):
        parts = entry.split(".")
        if len(parts) != 3 or parts[0] != gen:
            continue
        thin = paths.generation_dir(root, parts[1], parts[2])
        if is_safe_name(parts[1]) and source_of(thin) == (name, gen):
            found.append(f"{parts[1]}/{parts[2]}")
        elif tidy:
            _unlink(os.path.join(top, entry))
    return found


def drop(ref: str) -> None:
    """Delete a reference made by ``add`` (the thin generation was not made after all)."""
    _unlink(ref)


def _split(generation: str) -> tuple[str, str]:
    """(environment name, generation name) of ``HOME/envs/NAME/gN``."""
    return os.path.basename(os.path.dirname(generation)), os.path.basename(generation)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a planted FIFO must not block the open


def _own(st: os.stat_result, kind: Callable[[int], bool]) -> bool:
    """Whether ``st`` is of ``kind``, the user's, and writable by no one else."""
    uid = os.geteuid() if hasattr(os, "geteuid") else st.st_uid
    return kind(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o022


def _own_dir(path: str) -> bool:
    try:
        return _own(os.lstat(path), stat.S_ISDIR)
    except OSError:
        return False


def _is_generation(text: str) -> bool:
    return len(text) > 1 and text[0] == "g" and text[1:].isdigit()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
