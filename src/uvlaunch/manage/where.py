"""Which environment a script uses, found without creating anything."""

from __future__ import annotations

import os
from dataclasses import dataclass

from uvlaunch.building import machines
from uvlaunch.home import lookup, paths, records, stamp, store
from uvlaunch.home.env import Env
from uvlaunch.manage.targets import script_for
from uvlaunch.scripts import identity


@dataclass(frozen=True)
class Where:
    """Where a script's environment is, and whether it exists yet.

    ``environment`` and ``python`` go through the environment's pointer (``current``,
    or this machine's ``current-KEY``): they last through upgrade, reinstall, rollback
    and gc, as an editor needs. ``generation`` is the one the pointer names now.
    """

    script: str
    name: str
    environment: str
    python: str
    exists: bool
    generation: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "script": self.script,
            "name": self.name,
            "environment": self.environment,
            "python": self.python,
            "exists": self.exists,
            "generation": self.generation,
        }


def where(target: str) -> Where:
    """The environment the script ``target`` (or the environment or command of that name,
    targets.py) uses now, or will use on its first launch."""
    ident = identity.resolve(script_for(target))
    root = store.open_home(create=False)
    rec, _ = lookup.lookup(root, ident)
    if rec is None:
        rec = lookup.recover(root, ident)
    if rec is not None:
        name, script = rec.name, rec.script
    else:
        name, script = records.new_name(root, ident), ident.path
    # This machine's variant (machines.py): its pointer, which a first launch creates;
    # without a variant for this machine's Python, the environment's directory.
    handle = Env(root, name)
    variant = machines.choose(handle)
    env, generation = handle.dir, None
    if variant is not None:
        env = handle.with_variant(variant).stable()
        generation = handle.with_variant(variant).current()
    complete = generation is not None and stamp.read(paths.stamp_path(generation)) is not None
    return Where(
        script=script,
        name=name,
        environment=env,
        python=paths.env_python(env),
        exists=complete and os.path.exists(paths.env_python(env)),
        generation=generation if complete else None,
    )
