"""Where uvlaunch keeps its state: every path into the home is computed here.

This module is imported by the warm fast path, so it imports nothing beyond ``os``
and ``sys``; platformdirs alone costs more than the whole fast path (13 ms here).
"""

from __future__ import annotations

import os
import sys

from uvlaunch import contract

APP = "uvlaunch"


def home() -> str:
    """The home directory: ``UVLAUNCH_HOME``, else platformdirs' user data dir.

    A relative ``UVLAUNCH_HOME`` is refused (HomeError): it would make a new home in
    every directory a script is started from.
    """
    from_setting = absolute_setting("UVLAUNCH_HOME")
    if from_setting is not None:
        return from_setting
    fast = _user_data_dir_fast()
    if fast is not None:
        return fast
    import platformdirs

    return platformdirs.user_data_dir(APP, appauthor=False)


def absolute_setting(name: str) -> str | None:
    """The directory the environment variable ``name`` sets (``~`` expanded), or None.

    A relative one is refused (HomeError): it would mean another directory wherever
    uvlaunch is started.
    """
    value = os.environ.get(name)
    if not value:
        return None
    expanded = os.path.expanduser(value)
    if not os.path.isabs(expanded):
        from uvlaunch.errors import HomeError

        raise HomeError(f"{name}={value}: must be an absolute path")
    return os.path.normpath(expanded)


def _user_data_dir_fast() -> str | None:
    # Mirrors platformdirs.user_data_dir on Linux and macOS without importing it, in
    # the common cases only: the slow path uses this home too, so it must agree with
    # platformdirs exactly. Anything unusual (HOME unset or relative, a relative
    # XDG_DATA_HOME, which platformdirs versions treat differently, or XDG_DATA_HOME on
    # macOS, which newer platformdirs honour) returns None: platformdirs decides.
    # tests/test_paths.py checks that both agree.
    if not os.path.isabs(os.environ.get("HOME", "")):
        return None
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if sys.platform.startswith("linux"):
        if xdg:
            return os.path.join(xdg, APP) if os.path.isabs(xdg) else None
        return os.path.join(os.path.expanduser("~/.local/share"), APP)
    if sys.platform == "darwin" and not xdg:
        return os.path.join(os.path.expanduser("~/Library/Application Support"), APP)
    return None


def to_stored(path: str) -> str:
    """A script's path as records and stamps hold it: its bytes, read as UTF-8.

    Bytes that are not UTF-8 become surrogate escapes, so any file name round-trips,
    whatever the locale of the process that wrote it or reads it back.
    """
    return os.fsencode(path).decode("utf-8", "surrogateescape")


def from_stored(text: str) -> str:
    """A path read from a record or stamp, as this process's ``os`` functions take it."""
    return os.fsdecode(text.encode("utf-8", "surrogateescape"))


def platformdirs_home() -> str:
    """The home as platformdirs computes it, ignoring ``UVLAUNCH_HOME``."""
    import platformdirs

    return platformdirs.user_data_dir(APP, appauthor=False)


def _dir(path: str) -> str:
    # ``path`` with one slash after it: os.path.join's result for the names joined here
    # (relative, never empty), at a tenth of its cost: list and gc build 14 paths for
    # each of 10,000 environments.
    return path if path.endswith("/") else path + "/"


def envs_dir(root: str) -> str:
    return os.path.join(root, "envs")


def env_dir(root: str, name: str) -> str:
    """The directory of the environment ``name``: its generations and pointers (pointer.py)."""
    return f"{_dir(root)}envs/{name}"


def generation_dir(root: str, name: str, generation: str) -> str:
    """One generation of the environment ``name``: a virtual environment (VIRTUAL_ENV)."""
    return f"{_dir(root)}envs/{name}/{generation}"


def current_link(root: str, name: str, variant: str = "") -> str:
    """The pointer to the current generation of ``name``'s ``variant``: a symlink
    (pointer.py). A path through it follows every upgrade, rollback and gc."""
    return f"{_dir(root)}envs/{name}/current{variant}"


def generation_lock_path(generation: str) -> str:
    """Held shared by every launch from its check to its exec, and by the script it runs.

    Inside the generation, so that it goes with it: a launch that waited on it while
    the generation was deleted finds the path gone, and cannot lock a new file there.
    """
    return os.path.join(generation, "uvlaunch-use")


def env_python(env: str) -> str:
    if sys.platform == "win32":
        return os.path.join(env, "Scripts", "python.exe")
    return f"{_dir(env)}bin/python"


def env_bin(env: str) -> str:
    return os.path.join(env, "Scripts" if sys.platform == "win32" else "bin")


def stamp_path(env: str) -> str:
    """The file written last after a successful sync: its presence marks ``env`` complete."""
    return f"{_dir(env)}uvlaunch-stamp"


def compiled_path(env: str) -> str:
    """Written by the background compiler when it is done (compiling.py)."""
    return f"{_dir(env)}uvlaunch-compiled"


def records_dir(root: str) -> str:
    return os.path.join(root, "records")


def record_path(root: str, name: str) -> str:
    return f"{_dir(root)}records/{name}.json"


def index_dir(root: str) -> str:
    return os.path.join(root, "index")


def inode_key_path(root: str, dev: int, ino: int) -> str:
    """The index entry that maps a file's device and inode to an environment name."""
    return os.path.join(root, "index", f"ino-{dev}-{ino}")


def locks_dir(root: str) -> str:
    return os.path.join(root, "locks")


def env_lock_path(root: str, name: str) -> str:
    """Held exclusively while the environment is created, synced, upgraded or removed."""
    return os.path.join(root, "locks", f"{name}.lock")


def piped_dir(root: str) -> str:
    """The blocks of scripts read from pipes, each keying an environment (piped.py)."""
    return os.path.join(root, "piped")


def pyc_store(root: str) -> str:
    """Byte-compiled files shared by all environments, named by a SHA-256 of their source."""
    return os.path.join(root, "pyc")


def trash_dir(root: str) -> str:
    return os.path.join(root, "trash")


def tmp_dir(root: str) -> str:
    return os.path.join(root, "tmp")


def commands_dir(root: str) -> str:
    """Which environment each installed command belongs to (registry.py)."""
    return os.path.join(root, "commands")


def commands_lock_path(root: str) -> str:
    """Held while commands are installed, rewritten or removed, and their entries change."""
    return os.path.join(root, "locks", "commands.lock")


def warm_dir(root: str) -> str:
    return os.path.join(root, "warm")


def warm_path(root: str, dev: int, ino: int) -> str:
    """The warm record of the script file ``dev``/``ino`` for the home seen at ``root``:
    ``warm/DEV-INO-HOMEKEY`` (warm.py; read by launcher.c too)."""
    return os.path.join(root, "warm", f"{dev}-{ino}-{home_key(root)}")


def home_key(root: str) -> str:
    """Sixteen hex digits of FNV-1a (64 bits) of the home's path as this view spells it:
    cheap, and as easy to compute in C (contract.FNV_OFFSET, FNV_PRIME; launcher.c)."""
    h = contract.FNV_OFFSET
    for byte in os.fsencode(root):
        h = ((h ^ byte) * contract.FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"
