"""The home's entries of installed commands: ``commands/<key>``, one per command
(key: a hash of the command's path), saying which script and environment it runs, so
that ``list``, ``show``, ``gc`` and ``remove`` find an environment's commands wherever
they are. JSON, 0600 in a 0700 directory, written atomically under
``locks/commands.lock``; an entry another user owns or others can write is ignored, as
is every file of the home that uvlaunch acts on. The command files themselves are
installed.py's.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable

from uvlaunch.home import locks, paths, store
from uvlaunch.home.names import is_safe_name
from uvlaunch.manage.installed import READ_FLAGS, Command, is_ours, remove_file


def lock(root: str) -> locks.Lock:
    """Held while commands and their entries change."""
    return locks.Lock(paths.commands_lock_path(root))


def _entry_path(root: str, command: str) -> str:
    key = store.sha256_hex(os.fsencode(command))[:32]
    return os.path.join(paths.commands_dir(root), key)


def write_entry(root: str, command: Command) -> None:
    data = {
        "version": 1,
        "command": paths.to_stored(command.path),
        "script": paths.to_stored(command.script),
        "env": command.env,
    }
    store.write_atomic(root, _entry_path(root, command.path), json.dumps(data).encode("ascii"))


def drop_entry(root: str, command: str) -> None:
    store.remove_file(_entry_path(root, command))


def entries(root: str) -> list[Command]:
    """Every trusted, readable entry (few: one per command the user installed)."""
    if sys.platform == "win32":
        return []  # install refuses Windows (install.py)
    directory = paths.commands_dir(root)
    try:
        st = os.lstat(directory)
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    if not _trusted(st, stat.S_ISDIR):
        return []
    found = []
    for name in names:
        command = _read_entry(os.path.join(directory, name))
        if command is not None and _entry_path(root, command.path).endswith(os.sep + name):
            found.append(command)
    return found


def _trusted(st: os.stat_result, kind: Callable[[int], bool]) -> bool:
    # The same rule as for the home itself: this user's, and nobody else may write it.
    return kind(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _read_entry(path: str) -> Command | None:
    try:
        fd = os.open(path, READ_FLAGS)
    except OSError:
        return None
    try:
        if not _trusted(os.fstat(fd), stat.S_ISREG):
            return None
        data = json.loads(os.read(fd, 65536).decode("utf-8"))
        command, script, env = data["command"], data["script"], data["env"]
        if not all(isinstance(v, str) for v in (command, script, env)) or not is_safe_name(env):
            return None  # no environment uvlaunch makes has that name: damaged
        command, script = paths.from_stored(command), paths.from_stored(script)
        if not (os.path.isabs(command) and os.path.isabs(script)):
            return None
        return Command(command, script, env)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        os.close(fd)


def find(root: str, command: str) -> Command | None:
    """The entry of the command at ``command`` (as given, or with symlinks resolved)."""
    wanted = {os.path.abspath(command), os.path.realpath(command)}
    for entry in entries(root):
        if entry.path in wanted:
            return entry
    return None


def by_env(root: str) -> dict[str, list[str]]:
    """The paths of the commands of each environment that has any (files still there)."""
    found: dict[str, list[str]] = {}
    for entry in sorted(entries(root), key=lambda e: e.path):  # not in the keys' order
        if is_ours(entry.path):
            found.setdefault(entry.env, []).append(entry.path)
    return found


def drop(root: str, env: str, *, dry_run: bool = False) -> list[str]:
    """Remove the commands of the environment ``env`` and their entries; their paths."""
    if dry_run:
        return by_env(root).get(env, [])
    if not any(entry.env == env for entry in entries(root)):
        return []  # the common case: no lock taken, no lock file made
    removed = []
    with lock(root):
        for entry in entries(root):
            if entry.env == env:
                if remove_file(entry.path):
                    removed.append(entry.path)
                drop_entry(root, entry.path)
    return removed
