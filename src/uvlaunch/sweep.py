"""Finishing what killed processes left in the home, for ``gc`` and ``remove --all``.

A killed launch, gc or upgrade can leave: environments in ``trash/`` and ``staging/``,
temporary files in ``tmp/``, a previous generation with no environment, an environment
directory with neither record nor stamp, warm records of nothing, and shared ``.pyc``
files that no environment links. Each is deleted only when nothing can still be using
it: its environment's lock is free, or it is an hour old.
"""

from __future__ import annotations

import contextlib
import os
import time

from uvlaunch import generations, paths, records, stamp, store, warm


def sweep(root: str) -> list[str]:
    """Finish what a killed gc or launch left: trash, stray temporary files, bare env dirs.

    Returns the names of the bare environment directories it deleted.
    """
    # Trash and staging entries are named after their environment: one whose lock is
    # held belongs to a rebuild or an upgrade still running (a failed rebuild puts its
    # trashed environment back), so it is left for the next gc.
    for top in (paths.trash_dir(root), paths.staging_dir(root)):
        with contextlib.suppress(FileNotFoundError):
            for entry in os.listdir(top):
                with store.try_env_lock(root, entry.split(".", 1)[0]) as taken:
                    if taken:
                        store.delete_tree(os.path.join(top, entry), within=root)
    recorded = set(records.record_names(root))
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(paths.previous_dir(root)):
            if name not in recorded and not os.path.lexists(paths.env_dir(root, name)):
                with store.try_env_lock(root, name) as taken:
                    if taken:
                        generations.discard(root, paths.previous_env(root, name))
    cutoff = time.time() - 3600
    tmp = paths.tmp_dir(root)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(tmp):
            path = os.path.join(tmp, entry)
            with contextlib.suppress(OSError):
                if os.lstat(path).st_mtime < cutoff:
                    os.unlink(path)
    _sweep_pyc_store(root, cutoff)
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
    return swept


def _sweep_pyc_store(root: str, cutoff: float) -> None:
    """Delete shared ``.pyc`` files that no environment links any more.

    A compiler writes a file into the store and links it into an environment a moment
    later: only files an hour old, with no other link, are unused for certain.
    """
    top = paths.pyc_store(root)
    with contextlib.suppress(FileNotFoundError):
        for fan in os.listdir(top):
            folder = os.path.join(top, fan)
            with contextlib.suppress(OSError):
                for entry in os.scandir(folder):
                    st = entry.stat(follow_symlinks=False)
                    if st.st_nlink == 1 and st.st_mtime < cutoff:
                        os.unlink(entry.path)
                with contextlib.suppress(OSError):
                    os.rmdir(folder)  # only once empty
