"""Which environment a script uses, found without creating anything."""

from __future__ import annotations

import os
from dataclasses import dataclass

from uvlaunch.building import machines
from uvlaunch.home import paths, pointer, records, stamp, store
from uvlaunch.home.env import Env
from uvlaunch.scripts import identity


@dataclass(frozen=True)
class Where:
    """Where a script's environment is, and whether it exists yet."""

    script: str
    name: str
    environment: str
    python: str
    exists: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "script": self.script,
            "name": self.name,
            "environment": self.environment,
            "python": self.python,
            "exists": self.exists,
        }


def where(invoked: str) -> Where:
    """The environment ``invoked`` uses now, or will use on its first launch."""
    ident = identity.resolve(invoked)
    root = store.open_home(create=False)
    rec, _ = records.lookup(root, ident)
    if rec is None:
        rec = records.recover(root, ident)
    if rec is not None:
        name, script = rec.name, rec.script
    else:
        name, script = records.new_name(root, ident), ident.path
    # This machine's current generation (machines.py); before the first launch, the one
    # it will create; without one for this machine's Python, the environment's directory.
    variant = machines.choose(Env(root, name))
    if variant is None:
        env = paths.env_dir(root, name)
    else:
        env = pointer.current(root, name, variant) or paths.generation_dir(root, name, "g1")
    complete = stamp.read(paths.stamp_path(env)) is not None
    return Where(
        script=script,
        name=name,
        environment=env,
        python=paths.env_python(env),
        exists=complete and os.path.exists(paths.env_python(env)),
    )
