"""Removal inside the home: out of use in one rename into ``trash/``, then deleted.

A kill between the two leaves an entry in the trash, which the next gc deletes
(sweep.py). Nothing outside the home is ever deleted, and symlinks are unlinked,
never followed.
"""

from __future__ import annotations

import errno
import os
import stat

from uvlaunch.errors import HomeError
from uvlaunch.home import paths
from uvlaunch.home.env import Env
from uvlaunch.home.store import random_suffix


def take_out_of_use(env: Env) -> str | None:
    """Rename the environment into the trash in one atomic step (checked first: Env.check);
    returns its trash path."""
    env.check()
    return to_trash(env.root, env.dir)


def to_trash(root: str, path: str, *, prefix: str = "") -> str | None:
    """Rename ``path`` (inside the home) into the trash; its trash path, or None if absent.

    The trash entry keeps the environment's name in front (``prefix``: the name, for a
    generation), so that gc leaves it alone while that environment's lock is held
    (sweep.py).
    """
    if not os.path.lexists(path):
        return None
    label = f"{prefix}.{os.path.basename(path)}" if prefix else os.path.basename(path)
    dest = os.path.join(paths.trash_dir(root), f"{label}.{random_suffix(8)}")
    try:
        os.replace(path, dest)
    except OSError as e:
        raise HomeError(
            f"{path}: cannot move it into the trash: {e.strerror or e}; it stays where it was"
        ) from None
    return dest


def delete_tree(path: str, *, within: str) -> None:
    """Delete ``path`` (file, symlink or directory) if it lies inside ``within``."""
    real_within = os.path.realpath(within)
    parent = os.path.realpath(os.path.dirname(path))
    if os.path.commonpath([parent, real_within]) != real_within:
        raise ValueError(f"refusing to delete {path}: outside {within}")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil

        # rmtree never follows symlinks: it unlinks them (and refuses a symlinked top).
        shutil.rmtree(path, onerror=_rmtree_error)
    else:
        os.unlink(path)


def _rmtree_error(func: object, path: str, exc_info: object) -> None:
    # Read-only directories inside an environment (some packages ship them) block
    # unlinking their entries; make the parent writable and try once more.
    try:
        parent = os.path.dirname(path)
        os.chmod(parent, 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            import shutil

            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


def discard(root: str, path: str, *, prefix: str = "") -> None:
    """Out of use, then deleted: ``to_trash`` and ``delete_tree`` in one.

    A deletion that fails part-way leaves the rest in the trash, which gc deletes.
    Raises HomeError when ``path`` cannot even be moved there (and stays in place).
    """
    trashed = to_trash(root, path, prefix=prefix)
    if trashed is not None:
        try:
            delete_tree(trashed, within=root)
        except OSError:
            pass  # whatever stays in the trash, gc deletes
