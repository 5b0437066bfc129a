"""Which environment variant is whose (docs/how-it-works.md, "Many machines, one
home"): each variant's interpreter and Python, whether it runs on this machine, and
when it was last launched, for ``list``, ``show`` and ``gc --unused-for``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from uvlaunch.building import machines, venv
from uvlaunch.home import paths, pointer, stamp, usage
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


def here(env: Env, present: list[str] | None = None) -> str:
    """The variant of ``env`` this machine uses (machines.py); "" when it has none (yet).

    ``present``: ``env.variants()``, when the caller has it already."""
    if len(env.variants() if present is None else present) < 2:
        return ""  # one look, for the usual home of one machine
    return machines.choose(env) or ""


# What the caller read already of a pointer: (the generation it names, that generation's
# Python, its last launch). list and gc ask for 10,000 environments; reading each file
# once keeps them under a second.
Known = dict[str, tuple[str, str, float | None]]


def variants_of(
    handle: Env,
    present: list[str] | None = None,
    known: Known | None = None,
    uses: usage.Uses | None = None,
) -> tuple[VariantInfo, ...]:
    """What each variant of ``handle`` is; ``uses``: the state directory's uses, read once
    by a caller that asks for many environments."""
    found = []
    every = handle.variants() if present is None else present
    # Exactly one is this machine's: two may have an interpreter at a path that exists
    # here (the same path, another Python), but a launch here uses the one it chooses.
    several = len(every) > 1
    mine = machines.choose(handle) if several else None
    for variant in every:
        which = pointer.CURRENT + variant
        if known and which in known:
            generation, version, launched = known[which]
        else:
            target = handle.target(which)
            if target is None:
                continue
            env = handle.generation(target)
            generation = target
            version, launched = venv.python_version(env), _launched(paths.stamp_path(env))
        env = handle.generation(generation)
        python = paths.env_python(env)
        try:
            interpreter = venv.interpreter_link(env)
        except OSError:
            interpreter = "?"
        found.append(
            VariantInfo(
                pointer=pointer.CURRENT + variant,
                generation=generation,
                python=version,
                interpreter=interpreter,
                here=variant == mine if several else os.path.exists(python),
                last_launched=_last_used(handle, variant, launched, uses),
            )
        )
    return tuple(found)


def _launched(stamp_file: str) -> float | None:
    return stamp.last_launched(stamp_file) if os.path.lexists(stamp_file) else None


def _last_used(
    env: Env, variant: str, launched: float | None, uses: usage.Uses | None
) -> float | None:
    """The variant's last launch: its stamp's time, or a later use that a launch from a
    read-only home recorded in the state directory (usage.py)."""
    which = pointer.CURRENT + variant
    if uses is None:
        elsewhere = usage.last_used(env.root, env.name, which)
    else:
        elsewhere = uses.last(env.name, which)
    known = [t for t in (launched, elsewhere) if t is not None]
    return max(known) if known else None


def iso(ts: float | None) -> str | None:
    """A time as JSON shows it (UTC, ISO 8601), or None."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
