"""Finishing what killed processes left in the home, for ``gc`` and ``remove --all``.

A killed launch, gc or upgrade can leave: environments and generations in ``trash/``,
temporary files in ``tmp/``, an environment directory with neither record nor a complete
current generation (a first launch killed early, or what ``remove`` left because running
scripts used it), warm records of nothing, the files piped scripts ran from, copies of
scripts fetched from URLs not used for 30 days, and shared ``.pyc`` files that no
environment links. Each is deleted only when nothing can still be using it: its
environment's lock is free (and a generation's own lock, for a generation; a run file's
own lock, for a run file), it has no other link (a ``.pyc`` file), or it is an hour old
(other temporary files). Generations that a kill left beside a complete environment
(neither current nor kept for rollback) are gc's ``prune``. What deleting the leftovers
frees is measured first, as for an environment (venv.usage), and counted in what gc
frees.
"""

from __future__ import annotations

import contextlib
import os
import time
from contextlib import nullcontext

from uvlaunch.building import generations, venv
from uvlaunch.home import keyindex, locks, paths, records, stamp, store, trash, warm
from uvlaunch.home.env import Env
from uvlaunch.home.names import is_safe_name
from uvlaunch.launching import fetch, piped

# What uvlaunch before generations kept outside envs/ (and locks/*.use): deleted when found.
LEGACY_DIRS = ("staging", "previous")


class Swept:
    """What a sweep did: bare environment directories deleted (their sizes are the
    caller's to count), generations kept because running scripts use them, and the
    bytes the rest freed."""

    __slots__ = ("freed", "in_use", "names")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.in_use: dict[str, list[str]] = {}
        self.freed = 0


def sweep(root: str, *, dry_run: bool = False, everything: bool = False) -> Swept:
    """Finish what a killed gc or launch left: trash, stray temporary files, bare env dirs.

    ``dry_run``: delete nothing, measure what would be freed, leave bare directories.
    ``everything`` (``remove --all``): also the copies of scripts fetched from URLs.
    """
    done = Swept()
    # Trash entries are named after their environment: one whose lock is held may
    # belong to a rebuild still running (a failed one puts what it trashed back), so it
    # is left for the next gc.
    for top in (paths.trash_dir(root), *(os.path.join(root, d) for d in LEGACY_DIRS)):
        if top != paths.trash_dir(root) and os.path.islink(top):
            store.remove_file(top)  # planted: unlinked, never followed
            continue
        with contextlib.suppress(FileNotFoundError):
            for entry in os.listdir(top):
                stem = entry.split(".", 1)[0]  # NAME.RANDOM (trash.take_out_of_use)
                free = Env(root, stem).try_lock() if is_safe_name(stem) else nullcontext(True)
                with free as taken:
                    if taken:
                        done.freed += _free(os.path.join(top, entry))
                        if not dry_run:
                            trash.delete_tree(os.path.join(top, entry), within=root)
            if top != paths.trash_dir(root) and not dry_run:
                with contextlib.suppress(OSError):
                    os.rmdir(top)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(paths.locks_dir(root)):
            if entry.endswith(".use"):  # an environment's use lock, before generations
                with locks.Attempt(os.path.join(paths.locks_dir(root), entry)) as taken:
                    if taken and not dry_run:
                        store.remove_file(os.path.join(paths.locks_dir(root), entry))
    recorded = set(records.record_names(root))
    cutoff = time.time() - 3600
    tmp = paths.tmp_dir(root)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(tmp):
            path = os.path.join(tmp, entry)
            with contextlib.suppress(OSError):
                if entry.startswith(piped.RUN_PREFIX):
                    _sweep_run_file(path, dry_run)  # a script's, not an interruption's
                elif os.lstat(path).st_mtime < cutoff:
                    done.freed += _free(path)
                    if not dry_run:
                        os.unlink(path)
    _sweep_pyc_store(root, dry_run)  # counted with the environments that linked them
    if not dry_run:
        keyindex.prune(root)  # resolution index entries whose generation is gone
    _sweep_url_copies(root, 0 if everything else time.time() - URL_UNUSED, dry_run)
    if dry_run:
        return done
    warm.sweep(root)
    for name in store.env_names(root):
        if name in recorded:
            continue
        handle = Env(root, name)
        env = handle.current()
        if generations.is_legacy(handle):
            env = handle.dir
        if env is not None and stamp.read(paths.stamp_path(env)) is not None:
            continue  # a complete environment whose record was lost: `list` shows it
        held = handle.exclusive()
        with held as busy:
            if busy is None and not os.path.exists(paths.record_path(root, name)):
                kept = generations.remove_all(handle)
                if kept:
                    done.in_use[name] = kept
                else:
                    done.names.append(name)
                    held.delete_files()
    return done


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


def _sweep_run_file(path: str, dry_run: bool) -> None:
    """Delete a piped script's run file that no running script holds (piped.run_file)."""
    with locks.Attempt(path) as taken:
        if taken and not dry_run:
            os.unlink(path)


URL_UNUSED = piped.UNUSED_DAYS * 86400


def _sweep_url_copies(root: str, before: float, dry_run: bool) -> None:
    """Delete the copies of scripts fetched from URLs last used before ``before``."""
    top = paths.piped_dir(root)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(top):
            if entry.name.startswith(fetch.COPY_PREFIX) and not dry_run:
                with contextlib.suppress(OSError):
                    if before == 0 or entry.stat(follow_symlinks=False).st_mtime < before:
                        os.unlink(entry.path)


def _sweep_pyc_store(root: str, dry_run: bool) -> None:
    """Delete shared ``.pyc`` files that no environment links any more.

    A compiler writes a file into the store and links it into an environment a moment
    later; when the file is deleted in between, its link fails and the compiler writes
    the environment a copy of its own (bytecode.compile_file): nothing is lost, so any
    file with no other link goes at once. What they free was counted with the
    environment that held the last link (venv.usage).
    """
    if dry_run:
        return
    top = paths.pyc_store(root)
    with contextlib.suppress(FileNotFoundError):
        for fan in os.listdir(top):
            folder = os.path.join(top, fan)
            with contextlib.suppress(OSError):
                for entry in os.scandir(folder):
                    if entry.stat(follow_symlinks=False).st_nlink == 1:
                        os.unlink(entry.path)
                with contextlib.suppress(OSError):
                    os.rmdir(folder)  # only once empty
