"""How environments are collected: ``gc`` and ``remove`` (states: inventory.py).

Removal takes an environment out of use in one atomic step (a rename into trash/),
under the environment's lock taken with timeout 0, so a launch that is creating or
syncing it makes gc skip it; what a killed gc leaves in trash/ the next gc deletes.
Nothing outside the home is ever deleted: names are checked, paths are computed from
the home, and symlinks are unlinked, never followed.
"""

from __future__ import annotations

import dataclasses
import os
import stat as stat_mod
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from uvlaunch import commands, generations, metadata, paths, piped, records, stamp, store, sweep
from uvlaunch.errors import UvlaunchError
from uvlaunch.inventory import (
    INACCESSIBLE,
    LIVE,
    ORPHANED,
    PIPED,
    UNKNOWN,
    UNREACHABLE,
    EnvInfo,
    all_names,
    inspect,
    measure,
    resolve_targets,
)


@dataclass(frozen=True)
class Removal:
    """An environment gc removed (or would remove), and why."""

    name: str
    script: str | None
    reason: str
    size: int  # everything under it, as `list` shows
    freed: int  # what removing it frees (measured when it was removed)
    commands: tuple[str, ...] = ()  # the installed commands removed with it

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "script": self.script,
            "reason": self.reason,
            "size": self.size,
            "freed": self.freed,
            "commands": list(self.commands),
        }


@dataclass
class GcResult:
    """What a gc did: removed (or would remove), kept for a reason, skipped as busy."""

    dry_run: bool
    removed: list[Removal] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    relocated: list[tuple[str, str]] = field(default_factory=list)  # (name, new path)
    unreadable: list[str] = field(default_factory=list)
    leftovers: int = 0  # bytes freed by finishing what killed commands left (sweep.py)

    @property
    def freed(self) -> int:
        return sum(r.freed for r in self.removed) + self.leftovers

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "removed": [r.as_dict() for r in self.removed],
            "freed": self.freed,
            "skipped": [{"name": n, "why": w} for n, w in self.skipped],
            "relocated": [{"name": n, "script": p} for n, p in self.relocated],
            "unreadable": self.unreadable,
            "leftovers": self.leftovers,
        }


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90d``, ``12h``, ``30m``, ``2w`` or ``45s``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise UvlaunchError(f"{text!r}: not a duration; write a number and a unit: 90d, 12h, 30m")
    return int(text[:-1]) * units[text[-1]]


def collect(
    *,
    dry_run: bool = False,
    search: Iterable[str] = (),
    unused_for: float | None = None,
    include_unreachable: bool = False,
) -> GcResult:
    """Remove orphaned environments (and, when asked, unused or unreachable ones)."""
    result = GcResult(dry_run=dry_run)
    root = store.open_home(create=False)
    if not os.path.isdir(root):
        return result
    if not dry_run:
        store.open_home(create=True)
    now = time.time()
    infos = [inspect(root, name) for name in all_names(root)]
    orphans = [i for i in infos if i.state == ORPHANED]
    found = _search_inodes(root, orphans, search) if orphans else {}
    leftovers: list[EnvInfo] = []
    for info in infos:
        if _is_leftover(root, info):
            # Half-built, with no record: what a killed launch left; sweep.py deletes it.
            if dry_run:
                result.removed.append(_removal(root, info, LEFTOVER))
            else:
                leftovers.append(info)
            continue
        if info.state == UNKNOWN:
            result.unreadable.append(info.name)
            continue
        if info.state == INACCESSIBLE:
            why = f"its script's path cannot be checked: {info.script}"
            result.skipped.append((info.name, why))
            continue
        if info.name in found:
            new_path = found[info.name]
            if not dry_run:
                _relocate(root, info, new_path)
            result.relocated.append((info.name, new_path))
            continue
        reason = _reason(info, now, unused_for, include_unreachable)
        if reason is None:
            continue
        if dry_run:
            would = tuple(commands.drop(root, info.name, dry_run=True))
            result.removed.append(_removal(root, info, reason, would))
            continue
        held = store.Exclusive(root, info.name)
        with held as busy:
            if busy is not None:
                result.skipped.append((info.name, busy))
                continue
            # Check again under the lock: a launch may have moved the record meanwhile.
            again = inspect(root, info.name)
            if _reason(again, time.time(), unused_for, include_unreachable) is None:
                continue
            removal = _removal(root, again, reason)
            removed = _remove_locked(root, again, held)
        result.removed.append(dataclasses.replace(removal, commands=removed))
    if dry_run:
        result.leftovers = sweep.sweep(root, dry_run=True)[1]
    else:
        swept, result.leftovers = sweep.sweep(root)
        for info in leftovers:
            if info.name in swept:
                result.removed.append(Removal(info.name, None, LEFTOVER, info.size, info.freed))
            elif os.path.lexists(info.environment):
                result.skipped.append((info.name, store.BUILDING))
    return result


LEFTOVER = "leftover: a half-built environment with no record"
PIPED_UNUSED = piped.UNUSED_DAYS * 86400


def _days(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        n = int(seconds // 86400)
        return f"{n} day" + ("" if n == 1 else "s")
    return f"{int(seconds)} s"


def _removal(root: str, info: EnvInfo, reason: str, installed: tuple[str, ...] = ()) -> Removal:
    measured = measure(root, info)
    script = None if reason == LEFTOVER else info.script
    return Removal(info.name, script, reason, measured.size, measured.freed, installed)


def _is_leftover(root: str, info: EnvInfo) -> bool:
    # The same test sweep.py applies: no record file at all, and no readable stamp.
    return (
        info.state == UNKNOWN
        and not info.complete
        and not os.path.lexists(paths.record_path(root, info.name))
    )


def _reason(info: EnvInfo, now: float, unused_for: float | None, unreachable: bool) -> str | None:
    if not info.complete and not os.path.lexists(info.environment) and info.state != UNKNOWN:
        return "leftover: a record with no environment (a first launch that did not finish)"
    if info.state == PIPED:
        limit = min(unused_for, PIPED_UNUSED) if unused_for is not None else PIPED_UNUSED
        last = info.last_launched
        if last is None or now - last > limit:
            return f"piped: not launched for {_days(limit)}"
        return None
    if info.state == ORPHANED:
        return "orphaned: its script is gone"
    if info.state == UNREACHABLE and not unreachable:
        return None
    if info.state == UNREACHABLE:
        return "unreachable: its script's volume is not mounted"
    if unused_for is not None and info.state == LIVE:
        # Never launched (only synced): unused since it was synced.
        last = info.last_launched or info.last_synced
        if last is None or now - last > unused_for:
            return "unused: not launched for longer than asked"
    return None


def _search_inodes(root: str, orphans: list[EnvInfo], dirs: Iterable[str]) -> dict[str, str]:
    """Orphans whose file is found under ``dirs``: name -> path.

    A file counts when it has the recorded device and inode and also looks like the
    script: the same name, or the same ``# /// script`` block. An inode alone may have
    been reused by an unrelated file since the script was deleted.
    """
    wanted = {(o.dev, o.ino): o for o in orphans if o.dev is not None and o.ino is not None}
    found: dict[str, str] = {}
    for top in dirs:
        for dirpath, _dirnames, filenames in os.walk(top):
            for filename in filenames:
                path = os.path.join(dirpath, filename)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                info = wanted.get((st.st_dev, st.st_ino))
                if (
                    info is not None
                    and stat_mod.S_ISREG(st.st_mode)
                    and info.name not in found
                    and _looks_like_script(root, info, path)
                ):
                    found[info.name] = os.path.realpath(path)
    return found


def _looks_like_script(root: str, info: EnvInfo, path: str) -> bool:
    if info.script is not None and os.path.basename(info.script) == os.path.basename(path):
        return True
    fields = stamp.read(paths.stamp_path(paths.env_dir(root, info.name)))
    if fields is None or "block" not in fields:
        return False
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
        return metadata.find_block(data.decode("utf-8"), path) == fields["block"]
    except (OSError, ValueError, UvlaunchError):
        return False


def _relocate(root: str, info: EnvInfo, new_path: str) -> None:
    with store.index_lock(root):
        old = records.read_record(root, info.name)
        if old is not None:
            records.unindex_record(root, old)
        assert info.dev is not None and info.ino is not None
        rec = records.Record(
            info.name, new_path, info.dev, info.ino, old.created if old else store.now()
        )
        records.write_record(root, rec)
        records.index_record(root, rec)
        stamp_file = paths.stamp_path(info.environment)
        fields = stamp.read(stamp_file)
        if fields is not None:  # record and stamp must agree (inventory.py)
            fields["script"] = paths.to_stored(new_path)
            store.write_atomic(root, stamp_file, stamp.encode(fields))


def _remove_locked(root: str, info: EnvInfo, held: store.Exclusive) -> tuple[str, ...]:
    """Remove the environment and its installed commands; returns the commands removed."""
    # Out of use first, in one rename; then the record and index; then the files, and
    # last the lock files, while they are still held.
    trashed = store.take_out_of_use(root, info.name)
    generations.discard(root, paths.previous_env(root, info.name))
    rec = records.forget(root, info.name)
    if rec is not None and piped.is_piped_file(root, rec.script):
        store.remove_file(rec.script)
    if trashed is not None:
        store.delete_tree(trashed, within=root)
    held.delete_files()
    return tuple(commands.drop(root, info.name))


def remove(
    targets: Iterable[str], *, every: bool = False
) -> tuple[list[EnvInfo], list[tuple[str, str]]]:
    """Remove the environments of ``targets`` (or ``every`` one): (removed, skipped as busy)."""
    root = store.open_home(create=False)
    if every:
        if not os.path.isdir(root):
            return [], []
        names = all_names(root)
    else:
        names = resolve_targets(targets)
    removed: list[EnvInfo] = []
    busy: list[tuple[str, str]] = []
    for name in names:
        held = store.Exclusive(root, name)
        with held as why:
            if why is not None:
                busy.append((name, why))
                continue
            info = measure(root, inspect(root, name))
            gone = _remove_locked(root, info, held)
            removed.append(dataclasses.replace(info, commands=gone))
    if every:
        sweep.sweep(root)
    return removed, busy
