"""How uv links files from its cache into uvlaunch's environments.

Never symlinks: they would point into the cache that ``uv cache clean`` deletes. Hard
links (clones on macOS) where the cache and the home share a filesystem; copies where
they do not (a local scratch cache beside an NFS home), which is what uv would fall back
to anyway, after a warning on every build (docs/how-it-works.md, "Many machines, one
home").
"""

from __future__ import annotations

import os
import sys

from uvlaunch.errors import HomeError
from uvlaunch.home import paths


def link_mode() -> str:
    """The link mode for uvlaunch's environments: never symlinks into uv's cache."""
    # Symlinked files would point into the cache that `uv cache clean` deletes; an
    # explicit --link-mode on the command line overrides the user's uv.toml.
    chosen = os.environ.get("UV_LINK_MODE", "")
    if chosen and chosen != "symlink":
        return chosen
    if not _cache_beside_home():
        # A cache on another filesystem than the home (a local scratch cache, an NFS
        # home): uv could only fall back to copying, warning on every build.
        return "copy"
    return "clone" if sys.platform == "darwin" else "hardlink"


def cache_dir() -> str:
    """uv's cache directory as uv finds it (without running uv): UV_CACHE_DIR, else the
    platform's cache directory."""
    chosen = os.environ.get("UV_CACHE_DIR")
    if chosen:
        return chosen
    if sys.platform == "win32":
        return os.path.join(os.environ.get("LOCALAPPDATA", ""), "uv", "cache")
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.expanduser("~/.cache")
    return os.path.join(base, "uv")


def _cache_beside_home() -> bool:
    """Whether uv's cache and uvlaunch's home are on one filesystem (hard links work)."""

    def device(path: str) -> int | None:
        path = os.path.abspath(path)
        while True:  # the nearest existing directory: the cache may not exist yet
            try:
                return os.stat(path).st_dev
            except OSError:
                parent = os.path.dirname(path)
                if parent == path:
                    return None
                path = parent

    try:
        home = paths.home()
    except HomeError:  # the caller says so; the link mode does not matter then
        return True
    cache, mine = device(cache_dir()), device(home)
    if cache is None or mine is None or cache != mine:
        return cache is None or mine is None
    # One filesystem may still refuse: two bind mounts of it (a home bind-mounted into
    # a container, or from another folder) fail link() with EXDEV. Ask it.
    return _links(_existing(cache_dir()), paths.tmp_dir(home))


def _existing(path: str) -> str:
    """``path``, or its nearest existing ancestor (uv makes its cache inside it)."""
    path = os.path.abspath(path)
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _links(cache: str, tmp: str) -> bool:
    """Whether a file made in the directory ``cache`` can be hard-linked into ``tmp``."""
    import errno

    probe = os.path.join(cache, f".uvlaunch-link-probe.{os.urandom(6).hex()}")
    target = os.path.join(tmp, os.path.basename(probe))
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return True  # not ours to write: uv decides
    try:
        os.link(probe, target)
    except OSError as e:
        return e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)
    else:
        try:
            os.unlink(target)
        except OSError:
            pass  # a leftover in the home's tmp/, which gc sweeps; the answer stands
        return True
    finally:
        try:
            os.unlink(probe)
        except OSError:
            pass
