"""What a launch does to an environment, decided from facts alone (no uv, no disk).

``envbuild.ensure`` gathers the facts (``Facts``: the pointer, the stamp, the script,
the interpreter) and carries out the ``Plan`` that ``decide`` returns; the decision is
plain data, so the quick tier tests every branch of it without uv.

Every change is a new generation: a first build, a variant for another machine's
Python, a rebuild of a damaged one and a block edit each build beside what is current
and flip. Only ``keep`` acts on the current generation, and only on its stamp.
"""

from __future__ import annotations

KEEP = "keep"  # nothing to build: bring the stamp up to date (or touch it), start
CREATE = "create"  # no generation yet (for this machine): build the first one
EDIT = "edit"  # the block or lock file changed: build beside with today's versions, flip
REBUILD = "rebuild"  # damaged, or requires-python no longer admits it: build afresh, flip

LEGACY = "it was made by an older uvlaunch, before generations"


class Facts:
    """What ``decide`` needs to know about one environment and its script."""

    # Plain slotted classes: dataclasses costs 12 ms of imports on the launch path.
    __slots__ = ("admits", "changed", "chosen", "damage", "legacy", "present")

    def __init__(
        self,
        *,
        legacy: bool = False,
        chosen: str | None = "",
        present: bool = True,
        damage: str | None = None,
        changed: bool = False,
        admits: str | None = None,
    ) -> None:
        self.legacy = legacy  # envs/NAME is itself a venv (before generations)
        self.chosen = chosen  # this machine's variant; None: every one is another's
        self.present = present  # the variant's current generation exists
        self.damage = damage  # why it must be rebuilt whatever the script says
        self.changed = changed  # the block or the lock file differ from the stamp's
        self.admits = admits  # why the changed requires-python refuses its Python, or None


class Plan:
    """What to do: one of KEEP, CREATE, EDIT, REBUILD, and what to say about it."""

    __slots__ = ("action", "other_machines", "reason")

    def __init__(self, action: str, reason: str = "", *, other_machines: bool = False) -> None:
        self.action = action
        self.reason = reason  # for REBUILD: the line "rebuilding ...: <reason>"
        self.other_machines = other_machines  # CREATE of a variant beside other machines'

    def __repr__(self) -> str:
        return f"Plan({self.action!r}, {self.reason!r}, other_machines={self.other_machines})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and (
            self.action,
            self.reason,
            self.other_machines,
        ) == (other.action, other.reason, other.other_machines)

    def __hash__(self) -> int:
        return hash((self.action, self.reason, self.other_machines))

    @property
    def builds(self) -> bool:
        """Whether the plan builds a new generation (all but KEEP do)."""
        return self.action != KEEP


def decide(facts: Facts) -> Plan:
    """The plan for an environment with these facts."""
    if facts.legacy:
        return Plan(REBUILD, LEGACY)
    if facts.chosen is None:
        # Every variant is another machine's: it stays as it is, for them.
        return Plan(CREATE, other_machines=True)
    if not facts.present:
        return Plan(CREATE)
    if facts.damage is not None:
        return Plan(REBUILD, facts.damage)
    if facts.changed:
        # A changed block is checked before anything is built: a requires-python that
        # refuses the environment's Python needs another interpreter, so a fresh build.
        if facts.admits is not None:
            return Plan(REBUILD, facts.admits)
        return Plan(EDIT)
    return Plan(KEEP)
