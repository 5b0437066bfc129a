"""How environments are inventoried and collected: states, ``list``, ``gc`` and ``remove``.

A state says what became of an environment's script:

- live: the recorded path is a file (the recorded inode, or a new one after an atomic save);
- orphaned: the recorded path is gone;
- unreachable: the path is gone and its nearest existing ancestor is on another device
  than the one recorded, so the script sat on a volume that is not mounted now;
- unknown: neither the record nor the stamp could be read (never removed by gc).

Removal takes an environment out of use in one atomic step (a rename into trash/),
under the environment's lock taken with timeout 0, so a launch that is creating or
syncing it makes gc skip it; what a killed gc leaves in trash/ the next gc deletes.
Nothing outside the home is ever deleted: names are checked, paths are computed from
the home, and symlinks are unlinked, never followed.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_mod
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from uvlaunch import identity, launch, paths, stamp, store
from uvlaunch.errors import UnknownEnvironmentError, UvlaunchError

LIVE = "live"
ORPHANED = "orphaned"
UNREACHABLE = "unreachable"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class EnvInfo:
    """One managed environment as ``list`` shows it."""

    name: str
    environment: str
    script: str | None
    dev: int | None
    ino: int | None
    state: str
    python: str
    size: int
    last_launched: float | None
    complete: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "script": self.script,
            "state": self.state,
            "python": self.python or None,
            "size": self.size,
            "last_launched": self.last_launched,
            "last_launched_iso": _iso(self.last_launched),
            "environment": self.environment,
            "complete": self.complete,
        }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def state_of(script: str, dev: int) -> str:
    """Live, orphaned or unreachable, for a script recorded at ``script`` on device ``dev``."""
    try:
        st = os.stat(script)
    except OSError:
        st = None
    if st is not None and stat_mod.S_ISREG(st.st_mode):
        return LIVE
    ancestor = os.path.dirname(script)
    while True:
        try:
            anc_dev = os.stat(ancestor).st_dev
            break
        except OSError:
            parent = os.path.dirname(ancestor)
            if parent == ancestor:
                return ORPHANED
            ancestor = parent
    return UNREACHABLE if anc_dev != dev else ORPHANED


def inspect(root: str, name: str) -> EnvInfo:
    """What is known of the environment ``name``: from its record, else from its stamp."""
    env = paths.env_dir(root, name)
    fields = stamp.read(paths.stamp_path(env))
    rec = store.read_record(root, name)
    script: str | None = None
    dev = ino = None
    if rec is not None:
        script, dev, ino = rec.script, rec.dev, rec.ino
    elif fields is not None and fields.get("dev", "").isdigit() and fields.get("ino", "").isdigit():
        # The record is damaged or missing; the stamp keeps a copy of the identity.
        script, dev, ino = fields.get("script"), int(fields["dev"]), int(fields["ino"])
    state = UNKNOWN if script is None or dev is None else state_of(script, dev)
    size = _size(env, fields)
    return EnvInfo(
        name=name,
        environment=env,
        script=script,
        dev=dev,
        ino=ino,
        state=state,
        python=(fields or {}).get("python", "") or launch.python_version(env),
        size=size,
        last_launched=_last_launched(root, name, env),
        complete=fields is not None,
    )


def _size(env: str, fields: dict[str, str] | None) -> int:
    # The size measured after the last sync: walking 10,000 environments on every
    # `list` would take minutes; an incomplete environment is measured now.
    if fields is not None and fields.get("size", "").isdigit():
        return int(fields["size"])
    if os.path.isdir(env) and not os.path.islink(env):
        return launch.disk_usage(env)
    return 0


def _last_launched(root: str, name: str, env: str) -> float | None:
    # Every launch touches the stamp (fast path included); fall back to the record.
    for path in (paths.stamp_path(env), paths.record_path(root, name)):
        with contextlib.suppress(OSError):
            return os.stat(path).st_mtime
    return None


def all_names(root: str) -> list[str]:
    """Every environment uvlaunch knows of: recorded, or present in envs/."""
    return sorted(set(store.record_names(root)) | set(store.env_names(root)))


def list_envs() -> list[EnvInfo]:
    """All managed environments with their state, for ``uvlaunch list``."""
    root = store.open_home(create=False)
    if not os.path.isdir(root):
        return []
    return [inspect(root, name) for name in all_names(root)]


@dataclass(frozen=True)
class Removal:
    """An environment gc removed (or would remove), and why."""

    name: str
    script: str | None
    reason: str
    size: int

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "script": self.script, "reason": self.reason, "size": self.size}


@dataclass
class GcResult:
    """What a gc did: removed (or would remove), kept for a reason, skipped as busy."""

    dry_run: bool
    removed: list[Removal] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    relocated: list[tuple[str, str]] = field(default_factory=list)  # (name, new path)
    unreadable: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(r.size for r in self.removed)

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "removed": [r.as_dict() for r in self.removed],
            "freed": self.freed,
            "skipped": [{"name": n, "why": w} for n, w in self.skipped],
            "relocated": [{"name": n, "script": p} for n, p in self.relocated],
            "unreadable": self.unreadable,
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
    found = _search_inodes(orphans, search) if orphans else {}
    leftovers: list[EnvInfo] = []
    for info in infos:
        if _is_leftover(root, info):
            # Half-built, with no record: what a killed launch left; sweep() deletes it.
            if dry_run:
                result.removed.append(Removal(info.name, None, LEFTOVER, info.size))
            else:
                leftovers.append(info)
            continue
        if info.state == UNKNOWN:
            result.unreadable.append(info.name)
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
            result.removed.append(Removal(info.name, info.script, reason, info.size))
            continue
        with store.try_env_lock(root, info.name) as taken:
            if not taken:
                result.skipped.append((info.name, "a launch is creating or syncing it"))
                continue
            # Check again under the lock: a launch may have moved the record meanwhile.
            again = inspect(root, info.name)
            if _reason(again, time.time(), unused_for, include_unreachable) is None:
                continue
            _remove_locked(root, again)
        result.removed.append(Removal(info.name, info.script, reason, info.size))
    if not dry_run:
        swept = sweep(root)
        for info in leftovers:
            if info.name in swept:
                result.removed.append(Removal(info.name, None, LEFTOVER, info.size))
            elif os.path.lexists(info.environment):
                result.skipped.append((info.name, "a launch is creating or syncing it"))
    return result


LEFTOVER = "leftover: a half-built environment with no record"


def _is_leftover(root: str, info: EnvInfo) -> bool:
    # The same test sweep() applies: no record file at all, and no readable stamp.
    return (
        info.state == UNKNOWN
        and not info.complete
        and not os.path.lexists(paths.record_path(root, info.name))
    )


def _reason(info: EnvInfo, now: float, unused_for: float | None, unreachable: bool) -> str | None:
    if info.state == ORPHANED:
        return "orphaned: its script is gone"
    if info.state == UNREACHABLE and not unreachable:
        return None
    if info.state == UNREACHABLE:
        return "unreachable: its script's volume is not mounted"
    if unused_for is not None and info.state == LIVE:
        last = info.last_launched
        if last is None or now - last > unused_for:
            return "unused: not launched for longer than asked"
    return None


def _search_inodes(orphans: list[EnvInfo], dirs: Iterable[str]) -> dict[str, str]:
    """Orphans whose file (same device and inode) is found under ``dirs``: name -> path."""
    wanted = {(o.dev, o.ino): o.name for o in orphans if o.dev is not None and o.ino is not None}
    found: dict[str, str] = {}
    for top in dirs:
        for dirpath, _dirnames, filenames in os.walk(top):
            for filename in filenames:
                path = os.path.join(dirpath, filename)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                name = wanted.get((st.st_dev, st.st_ino))
                if name is not None and stat_mod.S_ISREG(st.st_mode) and name not in found:
                    found[name] = os.path.realpath(path)
    return found


def _relocate(root: str, info: EnvInfo, new_path: str) -> None:
    with store.index_lock(root):
        old = store.read_record(root, info.name)
        if old is not None:
            store.unindex_record(root, old)
        assert info.dev is not None and info.ino is not None
        rec = store.Record(
            info.name, new_path, info.dev, info.ino, old.created if old else store.now()
        )
        store.write_record(root, rec)
        store.index_record(root, rec)


def _remove_locked(root: str, info: EnvInfo) -> None:
    # Out of use first, in one rename; then the record and index; then the files.
    trashed = store.take_out_of_use(root, info.name)
    with store.index_lock(root):
        rec = store.read_record(root, info.name)
        if rec is not None:
            store.unindex_record(root, rec)
        store.remove_file(paths.record_path(root, info.name))
    if trashed is not None:
        store.delete_tree(trashed, within=root)


def sweep(root: str) -> list[str]:
    """Finish what a killed gc or launch left: trash, stray temporary files, bare env dirs.

    Returns the names of the bare environment directories it deleted.
    """
    store.empty_trash(root)
    cutoff = time.time() - 3600
    tmp = paths.tmp_dir(root)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(tmp):
            path = os.path.join(tmp, entry)
            with contextlib.suppress(OSError):
                if os.lstat(path).st_mtime < cutoff:
                    os.unlink(path)
    recorded = set(store.record_names(root))
    swept: list[str] = []
    for name in store.env_names(root):
        if name in recorded:
            continue
        env = paths.env_dir(root, name)
        if stamp.read(paths.stamp_path(env)) is not None:
            continue  # a complete environment whose record was lost: `list` shows it
        with store.try_env_lock(root, name) as taken:
            if taken and not os.path.exists(paths.record_path(root, name)):
                trashed = store.take_out_of_use(root, name)
                if trashed is not None:
                    store.delete_tree(trashed, within=root)
                    swept.append(name)
    return swept


def resolve_targets(targets: Iterable[str]) -> list[str]:
    """Environment names for scripts or names; raises on the first unknown one."""
    root = store.open_home(create=False)
    names: list[str] = []
    for target in targets:
        name = _target_name(root, target)
        if name is None:
            raise UnknownEnvironmentError(
                f"{target}: no managed environment has this name or belongs to this script"
            )
        if name not in names:
            names.append(name)
    return names


def _target_name(root: str, target: str) -> str | None:
    if os.path.lexists(target) or os.sep in target or target.endswith(".py"):
        try:
            ident = identity.resolve(target)
        except UvlaunchError:
            ident = None
        if ident is not None:
            rec, _ = store.lookup(root, ident)
            if rec is not None:
                return rec.name
        # A deleted script: look its path up in the index, then in the records.
        real = os.path.realpath(target)
        indexed = store.read_index(store.path_key_path(root, real))
        if indexed is not None:
            rec = store.read_record(root, indexed)
            if rec is not None and rec.script == real:
                return indexed
        for name in all_names(root):
            info = inspect(root, name)
            if info.script == real:
                return name
    if identity.is_safe_name(target) and target in all_names(root):
        return target
    return None


def remove(targets: Iterable[str]) -> tuple[list[EnvInfo], list[str]]:
    """Remove the environments of ``targets``: (removed, busy names that were skipped)."""
    names = resolve_targets(targets)
    root = store.open_home(create=False)
    removed: list[EnvInfo] = []
    busy: list[str] = []
    for name in names:
        with store.try_env_lock(root, name) as taken:
            if not taken:
                busy.append(name)
                continue
            info = inspect(root, name)
            _remove_locked(root, info)
            removed.append(info)
    return removed, busy


def human_size(size: int) -> str:
    """A size such as ``12.3 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
