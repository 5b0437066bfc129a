"""``uvlaunch uninstall``: remove a command that ``install`` made, never another file.

The environment stays until gc or ``remove``, as for any script.
"""

from __future__ import annotations

import os
import sys

from uvlaunch.errors import UvlaunchError
from uvlaunch.home import lookup, store
from uvlaunch.manage import installed as commands
from uvlaunch.manage import registry
from uvlaunch.manage.install import bin_dir
from uvlaunch.manage.installed import Command
from uvlaunch.scripts import identity


def uninstall(target: str) -> list[str]:
    """Remove the command named ``target``, or the commands that run the script ``target``.

    Never removes a file uvlaunch did not make; returns the paths removed.
    """
    if sys.platform == "win32":
        raise UvlaunchError(f"{target}: uvlaunch installs no commands on Windows")
    root = store.open_home(create=False)
    found = registry.entries(root)
    directory = bin_dir()
    foreign = None
    chosen: list[Command | str] = []
    if os.sep not in target and target not in (".", ".."):
        path = os.path.join(directory, target)
        if commands.is_ours(path):
            chosen = [path]
        elif os.path.lexists(path):
            foreign = path
        else:
            chosen = [e for e in found if os.path.basename(e.path) == target]
    if not chosen:
        chosen = _for_script(root, target, found)
    paths = [c if isinstance(c, str) else c.path for c in chosen]
    if not any(commands.is_ours(p) for p in paths):
        if foreign is not None:
            raise UvlaunchError(f"{foreign}: uvlaunch did not make this file; not removing it")
        raise UvlaunchError(
            f"{target}: no command of this name in {directory}, and no script with a command"
        )
    removed = []
    store.open_home(create=True)
    with registry.lock(root):
        for path in paths:
            # An entry whose file is gone or replaced is dropped; the file is left alone.
            if commands.remove_file(path):
                removed.append(path)
            registry.drop_entry(root, path)
    return removed


def _for_script(root: str, target: str, found: list[Command]) -> list[Command | str]:
    """The entries of the commands that run ``target``, a script (which may be gone)."""
    real = os.path.realpath(target)
    env = None
    try:
        rec, _ = lookup.lookup(root, identity.resolve(target))
        env = rec.name if rec is not None else None
    except UvlaunchError:
        pass
    return [e for e in found if e.script == real or e.env == env]
