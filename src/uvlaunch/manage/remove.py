"""Removing environments: ``remove``, and the removal gc makes of what it collects.

An environment goes out of use in one step (its pointer is deleted) under its lock,
taken without waiting; then each generation goes, through the trash, unless a running
script uses it: that one stays until a later gc finds it free. The commands
``uvlaunch install`` made for its script go with it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass

from uvlaunch.building import generations, venv
from uvlaunch.errors import HomeError, UvlaunchError
from uvlaunch.home import paths, records, store
from uvlaunch.home.env import Env
from uvlaunch.launching import piped
from uvlaunch.manage import registry, sweep
from uvlaunch.manage.inventory import EnvInfo, all_names, inspect, measure
from uvlaunch.manage.targets import resolve_targets


@dataclass(frozen=True)
class Removal:
    """An environment gc removed (or would remove), and why."""

    name: str
    script: str | None
    reason: str
    size: int  # everything under it, as `list` shows
    freed: int  # what removing it frees (measured when it was removed)
    commands: tuple[str, ...] = ()  # the installed commands removed with it
    generation: str | None = None  # only this old generation of the environment

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name}
        if self.generation is not None:
            out["generation"] = self.generation
        return {
            **out,
            "script": self.script,
            "reason": self.reason,
            "size": self.size,
            "freed": self.freed,
            "commands": list(self.commands),
        }


def less(root: str, removal: Removal, kept: list[str]) -> Removal:
    """``removal`` less the generations that running scripts kept."""
    if not kept:
        return removal
    size, freed = removal.size, removal.freed
    for generation in kept:
        more = venv.usage(paths.generation_dir(root, removal.name, generation))
        size, freed = size - more[0], freed - more[1]
    return dataclasses.replace(removal, size=max(size, 0), freed=max(freed, 0))


def remove_locked(
    env: Env, info: EnvInfo, held: store.Exclusive
) -> tuple[list[str], tuple[str, ...]]:
    """Remove the environment and its installed commands.

    Returns the generations kept because scripts use them, and the commands removed.
    """
    # Out of use first (its pointer goes), and its generations; then the record and
    # index; last the lock file, while it is still held.
    root = env.root
    kept = generations.remove_all(env)
    try:
        rec = records.forget(env)
        if rec is not None and piped.is_piped_file(root, rec.script):
            store.remove_file(rec.script)
        held.delete_files()
        return kept, tuple(registry.drop(root, info.name))
    except UvlaunchError as e:
        raise HomeError(
            f"{info.name}: its environment is removed, but not all that belongs to it: {e}; "
            "`uvlaunch gc` removes the rest"
        ) from None


def remove(
    targets: Iterable[str], *, every: bool = False
) -> tuple[list[EnvInfo], list[tuple[str, str]], list[tuple[str, str]]]:
    """Remove the environments of ``targets`` (or ``every`` one).

    Returns (removed, skipped as busy, generations kept because running scripts use
    them: (name, generation), which gc deletes later).
    """
    root = store.open_home(create=False)
    if every:
        if not os.path.isdir(root):
            return [], [], []
        names = all_names(root)
    else:
        names = resolve_targets(targets)
    removed: list[EnvInfo] = []
    busy: list[tuple[str, str]] = []
    in_use: list[tuple[str, str]] = []
    for name in names:
        env = Env(root, name)
        held = env.exclusive()
        with held as why:
            if why is not None:
                busy.append((name, why))
                continue
            info = measure(root, inspect(env))
            kept, gone = remove_locked(env, info, held)
            info = dataclasses.replace(info, commands=gone)
        if kept:
            smaller = less(root, Removal(name, None, "", info.size, info.freed), kept)
            info = dataclasses.replace(info, size=smaller.size, freed=smaller.freed)
        removed.append(info)
        in_use += [(name, generation) for generation in kept]
    if len(names) > 1 and in_use:
        in_use = _again(root, in_use)
    if every:
        sweep.sweep(root, everything=True)
    return removed, busy, in_use


def _again(root: str, kept: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Try the kept generations once more: one that only another removed environment's
    thin generation shared (home/sharers.py) is free now. Those still kept."""
    still = []
    for name in dict.fromkeys(name for name, _ in kept):
        env = Env(root, name)
        with env.exclusive() as why:
            left = generations.remove_all(env) if why is None else [g for n, g in kept if n == name]
        still += [(name, generation) for generation in left]
    return still
