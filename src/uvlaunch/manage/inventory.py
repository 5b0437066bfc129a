"""What environments there are, and what became of their scripts: ``list`` and targets.

A state says what became of an environment's script:

- live: the recorded path is a file (the recorded inode, or a new one after an atomic save);
- orphaned: the recorded path is gone;
- unreachable: the path is gone and its nearest existing ancestor is on another device
  than the one recorded, so the script sat on a volume that is not mounted now;
- inaccessible: the path cannot be checked (permission denied, a symlink loop, an I/O
  error): the script may well be there, so gc keeps it;
- unknown: neither the record nor the stamp could be read, or they name different
  files (never removed by gc);
- piped: the environment of a script read from a pipe (piped.py), keyed by its block.

Only a path that is certainly absent (ENOENT or ENOTDIR) counts as gone.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_mod
from dataclasses import dataclass

from uvlaunch.building import compiling, generations, venv
from uvlaunch.home import paths, pointer, records, stamp, store, usage
from uvlaunch.home.env import Env
from uvlaunch.launching import piped
from uvlaunch.manage import registry, spread
from uvlaunch.manage.variants import Known, VariantInfo, iso, variants_of
from uvlaunch.manage.variants import here as variant_here

LIVE = "live"
ORPHANED = "orphaned"
UNREACHABLE = "unreachable"
INACCESSIBLE = "inaccessible"
PIPED = "piped"
UNKNOWN = "unknown"

_ABSENT = (FileNotFoundError, NotADirectoryError)


@dataclass(frozen=True)
class EnvInfo:
    """One managed environment as ``list`` shows it."""

    name: str
    environment: str  # its current generation (envs/NAME/gN), else envs/NAME
    script: str | None
    dev: int | None
    ino: int | None
    state: str
    python: str
    size: int  # everything under the environment: all its generations
    freed: int  # what removing it frees: files not shared with uv's cache or others
    last_launched: float | None  # None: never (an environment only ever synced)
    last_synced: float | None  # when uv last created or synced it
    complete: bool
    rollback: bool  # whether an earlier generation is kept for `uvlaunch rollback`
    commands: tuple[str, ...] = ()  # installed commands that run its script (registry.py)
    generations: tuple[str, ...] = ()  # present on disk, oldest first (current included)
    variants: tuple[VariantInfo, ...] = ()  # one per interpreter that built it (machines.py)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "script": self.script,
            "state": self.state,
            "python": self.python or None,
            "size": self.size,
            "freed": self.freed,
            "last_launched": self.last_launched,
            "last_launched_iso": iso(self.last_launched),
            "last_synced": self.last_synced,
            "last_synced_iso": iso(self.last_synced),
            "environment": self.environment,
            "complete": self.complete,
            "rollback": self.rollback,
            "commands": list(self.commands),
            "generations": list(self.generations),
            "variants": [v.as_dict() for v in self.variants],
        }


def state_of(script: str, dev: int) -> str:
    """Live, orphaned, unreachable or inaccessible, for a script recorded at ``script``."""
    try:
        st = os.stat(script)
    except _ABSENT:
        st = None
    except OSError:
        return INACCESSIBLE
    if st is not None:
        return LIVE if stat_mod.S_ISREG(st.st_mode) else INACCESSIBLE
    ancestor = os.path.dirname(script)
    while True:
        try:
            anc_dev = os.stat(ancestor).st_dev
            break
        except _ABSENT:
            parent = os.path.dirname(ancestor)
            if parent == ancestor:
                return ORPHANED
            ancestor = parent
        except OSError:
            return INACCESSIBLE
    return UNREACHABLE if anc_dev != dev else ORPHANED


def inspect(handle: Env, uses: usage.Uses | None = None) -> EnvInfo:
    """What is known of the environment ``handle``: from its record, else from its stamp.
    ``uses``: the state directory's uses, read once by a caller that inspects many."""
    root, name = handle.root, handle.name
    held = pointer.entries(root, name)  # one listdir: variants and generations
    present_variants = pointer.variants(root, name, held)
    variant = variant_here(handle, present_variants)
    current, previous = pointer.read(root, name, variant, held)
    top = handle.dir
    env = top if current is None else handle.generation(current)
    fields = None if current is None else stamp.read(paths.stamp_path(env))
    rec = records.read_record(root, name)
    script: str | None = None
    dev = ino = None
    if rec is not None and fields is not None and not _agree(rec, fields):
        # A record that names another file than the stamp does (hand-edited, damaged in
        # a way JSON cannot tell): whose environment it is cannot be told.
        pass
    elif rec is not None:
        # Any of the file's names that still leads to it (a hard link whose recorded
        # name was deleted) keeps the script alive.
        script, dev, ino = rec.script, rec.dev, rec.ino
        if rec.names:
            script = rec.live_name() or script
    elif fields is not None and fields.dev.isdigit() and fields.ino.isdigit():
        # The record is damaged or missing; the stamp keeps a copy of the identity.
        script = paths.from_stored(fields.script)
        dev, ino = int(fields.dev), int(fields.ino)
    state = UNKNOWN if script is None or dev is None else state_of(script, dev)
    if state != UNKNOWN and piped.is_piped_file(root, script):
        state, script = PIPED, None  # its "script" is a file of uvlaunch's own
    # Every generation counts: the current one, the one kept for rollback, and old ones
    # that running scripts still use (or that a crash left) until gc deletes them.
    # A spare (building/spare.py) is the next edit's, made ahead: no generation of the
    # script's yet, and its files are the current one's (hard links) but its folders.
    spared = pointer.spared(root, name, held)
    present = [g for g in pointer.generations(root, name, held) if g not in spared]
    size = freed = 0
    rollback = False
    for generation in present:
        path = handle.generation(generation)
        stamped = fields if generation == current else stamp.read(paths.stamp_path(path))
        more = _sizes(path, stamped)
        size, freed = size + more[0], freed + more[1]
        rollback = rollback or (generation == previous and stamped is not None)
    if not present and generations.is_legacy(handle):
        size, freed = _sizes(top, stamp.read(paths.stamp_path(top)))
    launched_here = _last_launched(handle, env, fields is not None)
    read: Known = {}
    if current is not None and fields is not None and fields.python:
        read[pointer.CURRENT + variant] = (current, fields.python, launched_here)
    variants = variants_of(handle, present_variants, read, uses)
    launched = [launched_here, *(v.last_launched for v in variants)]
    known = [t for t in launched if t is not None]
    return EnvInfo(
        name=name,
        environment=env,
        script=script,
        dev=dev,
        ino=ino,
        state=state,
        python=(fields.python if fields else "") or venv.python_version(env),
        size=size,
        freed=freed,
        # The last launch on any machine: gc --unused-for goes by it.
        last_launched=max(known) if known else None,
        last_synced=_float(fields.synced if fields else ""),
        complete=fields is not None,
        rollback=rollback,
        generations=tuple(present),
        variants=variants,
    )


def _agree(rec: records.Record, fields: stamp.Stamp) -> bool:
    # The stamp names the file by whichever of its names synced it last, and by its
    # inode alone: each machine of a shared home sees it under its own device.
    names = {paths.to_stored(n) for n in (rec.script, *rec.names)}
    return fields.ino == str(rec.ino) and fields.script in names


def _sizes(env: str, fields: stamp.Stamp | None) -> tuple[int, int]:
    # The sizes measured after the last sync (by the compiler, once it is done):
    # walking 10,000 environments on every `list` would take minutes; an environment
    # measured by neither is measured now.
    if fields is not None:
        measured = compiling.done(env, fields)
        if measured is not None:
            return measured
    if fields is not None and fields.size.isdigit():
        size = int(fields.size)
        own = fields.own
        return size, int(own) if own.isdigit() else size
    if os.path.isdir(env) and not os.path.islink(env):
        return venv.usage(env)
    return 0, 0


def measure(root: str, info: EnvInfo) -> EnvInfo:
    """``info`` with its sizes measured now (what the stamp says may be out of date)."""
    import dataclasses

    top = paths.env_dir(root, info.name)
    size = freed = 0
    if generations.is_legacy(Env(root, info.name)):
        size, freed = venv.usage(top)
    for generation in pointer.generations(root, info.name):
        more = venv.usage(paths.generation_dir(root, info.name, generation))
        size, freed = size + more[0], freed + more[1]
    return dataclasses.replace(info, size=size, freed=freed)


def _last_launched(handle: Env, env: str, stamped: bool = False) -> float | None:
    # Every launch touches the stamp (fast path included), and nothing else does
    # (stamp.py); with no stamp, the record's time stands in. ``stamped``: it was just read.
    stamp_file = paths.stamp_path(env)
    if stamped or os.path.lexists(stamp_file):
        return stamp.last_launched(stamp_file)
    with contextlib.suppress(OSError):
        return os.stat(paths.record_path(handle.root, handle.name)).st_mtime
    return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def all_names(root: str) -> list[str]:
    """Every environment uvlaunch knows of: recorded, or present in envs/."""
    return sorted(set(records.record_names(root)) | set(store.env_names(root)))


def list_envs() -> list[EnvInfo]:
    """All managed environments with their state, for ``uvlaunch list``."""
    root = store.open_home(create=False)
    if not os.path.isdir(root):
        return []
    installed = registry.by_env(root)  # read once: inspect() is called 10,000 times
    return [with_commands(info, installed) for info in inspect_all(root)]


def inspect_all(root: str) -> list[EnvInfo]:
    """``inspect`` of every environment of the home at ``root`` (``all_names``), in
    order, on every core this process may use (spread.py)."""
    uses = usage.Uses(root)  # read once for 10,000 environments
    return spread.spread(lambda name: inspect(Env(root, name), uses), all_names(root))


def with_commands(info: EnvInfo, installed: dict[str, list[str]]) -> EnvInfo:
    if info.name not in installed:
        return info
    import dataclasses

    return dataclasses.replace(info, commands=tuple(installed[info.name]))
