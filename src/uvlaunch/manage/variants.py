"""Which environment variant is whose (docs/how-it-works.md, "Many machines, one
home"): each variant's interpreter and Python, whether it runs on this machine, and
when it was last launched, for ``list``, ``show`` and ``gc --unused-for``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from uvlaunch.building import machines, venv
from uvlaunch.home import paths, pointer, stamp
from uvlaunch.home.env import Env


@dataclass(frozen=True)
class VariantInfo:
    """One variant of an environment: the generations for one interpreter (machines.py)."""

    pointer: str  # "current", or "current-KEY"
    generation: str  # the generation it names
    python: str  # the version it was built with
    interpreter: str  # what its bin/python leads to, as this machine reads the link
    here: bool  # whether that interpreter is on this machine
    last_launched: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "pointer": self.pointer,
            "generation": self.generation,
            "python": self.python or None,
            "interpreter": self.interpreter,
            "here": self.here,
            "last_launched": self.last_launched,
            "last_launched_iso": iso(self.last_launched),
        }


def here(root: str, name: str) -> str:
    """The variant this machine uses (machines.py); "" when it has none (yet)."""
    if len(pointer.variants(root, name)) < 2:
        return ""  # one look, for the usual home of one machine
    return machines.choose(Env(root, name)) or ""


def variants_of(root: str, name: str) -> tuple[VariantInfo, ...]:
    found = []
    for variant in pointer.variants(root, name):
        generation = pointer.target(root, name, pointer.CURRENT + variant)
        if generation is None:
            continue
        env = paths.generation_dir(root, name, generation)
        python = paths.env_python(env)
        try:
            interpreter = os.readlink(python)
        except OSError:
            interpreter = "?"
        stamp_file = paths.stamp_path(env)
        found.append(
            VariantInfo(
                pointer=pointer.CURRENT + variant,
                generation=generation,
                python=venv.python_version(env),
                interpreter=interpreter,
                here=os.path.exists(python),
                last_launched=stamp.last_launched(stamp_file)
                if os.path.lexists(stamp_file)
                else None,
            )
        )
    return tuple(found)


def iso(ts: float | None) -> str | None:
    """A time as JSON shows it (UTC, ISO 8601), or None."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
