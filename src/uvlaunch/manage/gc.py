"""How environments are collected: ``gc`` and ``remove`` (states: inventory.py).

Removal takes an environment out of use in one atomic step (its pointer is deleted),
under the environment's lock taken with timeout 0, so a launch that is creating or
syncing it makes gc skip it. Then each generation goes, through the trash, unless a
running script uses it (its use lock, also taken with timeout 0): that one stays until
a later gc finds it free. gc also deletes the old generations of live environments
(neither current nor kept for rollback) that no script uses any more. What a killed
gc leaves in trash/ the next gc deletes. Nothing outside the home is ever deleted:
names are checked, paths are computed from the home, and symlinks are unlinked,
never followed.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from uvlaunch.building import generations, machines
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import paths, pointer, stamp, store
from uvlaunch.home.env import Env
from uvlaunch.launching import piped
from uvlaunch.manage import registry, sharing, sweep
from uvlaunch.manage import search as search_mod
from uvlaunch.manage.inventory import (
    INACCESSIBLE,
    LIVE,
    ORPHANED,
    PIPED,
    UNKNOWN,
    UNREACHABLE,
    EnvInfo,
    inspect,
    inspect_all,
    measure,
)
from uvlaunch.manage.remove import Removal, less, remove_locked


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

    @property
    def environments(self) -> int:
        return sum(r.generation is None for r in self.removed)

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
    infos = inspect_all(root)
    orphans = [i for i in infos if i.state == ORPHANED]
    found = search_mod.find_moved(root, orphans, search) if orphans else {}
    leftovers: list[tuple[EnvInfo, str]] = []
    for info in infos:
        if _is_leftover(root, info):
            # No record: what a killed launch left, or what a running script kept of a
            # removed environment; sweep.py deletes it.
            if dry_run:
                result.removed.append(_removal(root, info, _leftover(root, info)))
            else:
                leftovers.append((info, _leftover(root, info)))
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
            not_moved = None if dry_run else search_mod.relocate(root, info, new_path)
            if not_moved is None:
                result.relocated.append((info.name, new_path))
            elif not_moved != search_mod.LAUNCHED:
                result.skipped.append((info.name, not_moved))
            continue
        reason = _reason(info, now, unused_for, include_unreachable)
        if reason is None:
            continue
        if info.state == ORPHANED and _seen_elsewhere(Env(root, info.name), now, unused_for):
            # Gone from this view only, maybe: a container sees it at a path of its own.
            result.skipped.append((info.name, ELSEWHERE))
            continue
        if reason.startswith((UNUSED, UNUSED_PIPED)) and generations.in_use(info.environment):
            # Not launched for long, but running all that time (a server): not unused.
            result.skipped.append((info.name, store.RUNNING))
            continue
        if dry_run:
            would = tuple(registry.drop(root, info.name, dry_run=True))
            result.removed.append(_removal(root, info, reason, would))
            continue
        env = Env(root, info.name)
        held = env.exclusive()
        with held as busy:
            if busy is not None:
                result.skipped.append((info.name, busy))
                continue
            # Check again under the lock: a launch may have moved the record meanwhile.
            again = inspect(env)
            if _reason(again, time.time(), unused_for, include_unreachable) is None:
                continue
            removal = _removal(root, again, reason)
            kept, removed = remove_locked(env, again, held)
        removal = dataclasses.replace(removal, commands=removed)
        result.removed.append(less(root, removal, kept))
        result.skipped += [(f"{info.name} {g}", IN_USE) for g in kept]
    gone = {r.name for r in result.removed}
    for info in infos:
        if unused_for is not None and info.name not in gone:
            _drop_variants(root, info, now - unused_for, result)
        # Old generations of the environments that stay: one listdir told whether any.
        if info.complete and len(info.generations) > 1 and info.name not in gone:
            _prune(Env(root, info.name), result)
    swept = sweep.sweep(root, dry_run=dry_run)
    result.leftovers = swept.freed
    if not dry_run:
        for info, why in leftovers:
            if info.name in swept.names:
                result.removed.append(Removal(info.name, None, why, info.size, info.freed))
            elif info.name in swept.in_use:
                result.skipped += [
                    (f"{info.name} {g}", sharing.kept_reason(Env(root, info.name), g, IN_USE))
                    for g in swept.in_use[info.name]
                ]
            elif os.path.lexists(info.environment):
                result.skipped.append((info.name, store.BUILDING))
    return result


ELSEWHERE = (
    "its script is gone from this machine, but another machine or container launched it "
    "lately (it may see the script at a path of its own)"
)


def _seen_elsewhere(env: Env, now: float, unused_for: float | None) -> bool:
    """Whether another view launched ``env`` within ``--unused-for`` (else the grace)."""
    seen = machines.seen_elsewhere(env.dir)
    return seen is not None and now - seen < (unused_for or machines.GRACE)


IN_USE = "a running script is using this generation; gc deletes it once the script has exited"
OLD = "an old generation: neither current nor kept for rollback, and no script uses it"


UNUSED_VARIANT = "the variant for another interpreter (machine) was not launched since"


def _drop_variants(root: str, info: EnvInfo, before: float, result: GcResult) -> None:
    """Take out of use the variants of ``info`` that no machine launched since ``before``.

    Never because an interpreter is missing here: a shared home's other machines have
    theirs. The first variant (``current``) stays as long as the environment does; the
    generations of the others go by the prune that follows.
    """
    for v in info.variants:
        if v.pointer == pointer.CURRENT or (v.last_launched or 0) > before:
            continue
        when = time.strftime("%Y-%m-%d", time.gmtime(v.last_launched or 0))
        why = f"{UNUSED_VARIANT} {when} (Python {v.python} {v.interpreter})"
        if not result.dry_run:
            env = Env(root, info.name)
            with env.try_lock() as taken:
                if not taken:
                    continue  # a launch may be building or using it: next time
                variant = v.pointer[len(pointer.CURRENT) :]
                env.point(pointer.PREVIOUS + variant, None)
                env.point(v.pointer, None)
                continue  # its generations are old ones now: the prune deletes them
        result.removed.append(Removal(info.name, None, why, 0, 0, generation=v.generation))


def _prune(env: Env, result: GcResult) -> None:
    """Delete the old generations of ``env`` that no script uses (or say which would go)."""
    name = env.name
    if result.dry_run:
        pruned = generations.prune(env, measure=True, dry_run=True)
    else:
        with env.try_lock() as taken:
            if not taken:
                return  # a launch or an upgrade is at work on it (building one): next time
            pruned = generations.prune(env, measure=True)
    for generation, freed in pruned.deleted:
        result.removed.append(Removal(name, None, OLD, freed, freed, generation=generation))
    result.skipped += [(f"{name} {g}", sharing.kept_reason(env, g, IN_USE)) for g in pruned.in_use]


LEFTOVER = "leftover: a half-built environment with no record"
LEFTOVER_KEPT = "leftover: a generation of a removed environment, which a script used then"
UNUSED = "unused"
UNUSED_PIPED = "piped: not launched for "
PIPED_UNUSED = piped.UNUSED_DAYS * 86400


def _days(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        n = int(seconds // 86400)
        return f"{n} day" + ("" if n == 1 else "s")
    return f"{int(seconds)} s"


def _removal(root: str, info: EnvInfo, reason: str, installed: tuple[str, ...] = ()) -> Removal:
    measured = measure(root, info)
    script = None if reason in (LEFTOVER, LEFTOVER_KEPT) else info.script
    return Removal(info.name, script, reason, measured.size, measured.freed, installed)


def _leftover(root: str, info: EnvInfo) -> str:
    """Why a leftover is one: half-built, or what `remove` left to a running script."""
    for generation in info.generations:
        path = paths.generation_dir(root, info.name, generation)
        if stamp.read(paths.stamp_path(path)) is not None:
            return LEFTOVER_KEPT
    return LEFTOVER


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
            return f"{UNUSED_PIPED}{_days(limit)}"
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
            return f"{UNUSED}: not launched for longer than asked"
    return None
