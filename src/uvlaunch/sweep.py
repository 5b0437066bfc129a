"""Finishing what killed processes left in the home, for ``gc`` and ``remove --all``.

A killed launch, gc or upgrade can leave: environments in ``trash/`` and ``staging/``,
temporary files in ``tmp/``, a previous generation with no environment, an environment
directory with neither record nor stamp, warm records of nothing, and shared ``.pyc``
files that no environment links. Each is deleted only when nothing can still be using
it: its environment's lock is free, or it is an hour old. What deleting it frees is
measured first, as for an environment (venv.usage), and counted in what gc frees.
"""

from __future__ import annotations

import contextlib
import os
import time

from uvlaunch import generations, paths, records, stamp, store, venv, warm


def sweep(root: str, *, dry_run: bool = False) -> tuple[list[str], int]:
    """Finish what a killed gc or launch left: trash, stray temporary files, bare env dirs.

    Returns the names of the bare environment directories it deleted (their sizes are
    the caller's to count), and the bytes the rest freed. ``dry_run``: delete nothing,
    measure what would be freed, and leave bare directories alone.
    """
    freed = 0
    # Trash and staging entries are named after their environment: one whose lock is
    # held belongs to a rebuild or an upgrade still running (a failed rebuild puts its
    # trashed environment back), so it is left for the next gc.
    for top in (paths.trash_dir(root), paths.staging_dir(root)):
        with contextlib.suppress(FileNotFoundError):
            for entry in os.listdir(top):
                with store.try_env_lock(root, entry.split(".", 1)[0]) as taken:
                    if taken:
                        freed += _free(os.path.join(top, entry))
                        if not dry_run:
                            store.delete_tree(os.path.join(top, entry), within=root)
    recorded = set(records.record_names(root))
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(paths.previous_dir(root)):
            if name not in recorded and not os.path.lexists(paths.env_dir(root, name)):
                with store.try_env_lock(root, name) as taken:
                    if taken:
                        freed += _free(paths.previous_env(root, name))
                        if not dry_run:
                            generations.discard(root, paths.previous_env(root, name))
    cutoff = time.time() - 3600
    tmp = paths.tmp_dir(root)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(tmp):
            path = os.path.join(tmp, entry)
            with contextlib.suppress(OSError):
                if os.lstat(path).st_mtime < cutoff:
                    freed += _free(path)
                    if not dry_run:
                        os.unlink(path)
    freed += _sweep_pyc_store(root, cutoff, dry_run)
    if dry_run:
        return [], freed
    warm.sweep(root)
    swept: list[str] = []
    for name in store.env_names(root):
        if name in recorded:
            continue
        env = paths.env_dir(root, name)
        if stamp.read(paths.stamp_path(env)) is not None:
            continue  # a complete environment whose record was lost: `list` shows it
        held = store.Exclusive(root, name)
        with held as busy:
            if busy is None and not os.path.exists(paths.record_path(root, name)):
                trashed = store.take_out_of_use(root, name)
                if trashed is not None:
                    store.delete_tree(trashed, within=root)
                    swept.append(name)
                held.delete_files()
    return swept, freed


def _free(path: str) -> int:
    """What deleting ``path`` (a tree or a file) frees: files linked nowhere else."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if os.path.isdir(path) and not os.path.islink(path):
        return venv.usage(path)[1]
    return _size(st) if st.st_nlink == 1 else 0


def _size(st: os.stat_result) -> int:
    return getattr(st, "st_blocks", 0) * 512 or st.st_size  # as venv.usage counts


def _sweep_pyc_store(root: str, cutoff: float, dry_run: bool) -> int:
    """Delete shared ``.pyc`` files that no environment links any more; bytes freed.

    A compiler writes a file into the store and links it into an environment a moment
    later: only files an hour old, with no other link, are unused for certain.
    """
    freed = 0
    top = paths.pyc_store(root)
    with contextlib.suppress(FileNotFoundError):
        for fan in os.listdir(top):
            folder = os.path.join(top, fan)
            with contextlib.suppress(OSError):
                for entry in os.scandir(folder):
                    st = entry.stat(follow_symlinks=False)
                    if st.st_nlink == 1 and st.st_mtime < cutoff:
                        freed += _size(st)
                        if not dry_run:
                            os.unlink(entry.path)
                with contextlib.suppress(OSError):
                    if not dry_run:
                        os.rmdir(folder)  # only once empty
    return freed
