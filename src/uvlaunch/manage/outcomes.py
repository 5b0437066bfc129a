"""What ``upgrade``, ``reinstall`` and ``rollback`` report: one outcome per environment,
each with the packages whose versions changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

UPGRADED = "upgraded"
REINSTALLED = "reinstalled"
ROLLED_BACK = "rolled back"
WOULD_CHANGE = "would change"
UNCHANGED = "unchanged"
LOCKED = "locked"
GONE = "gone"
BUSY = "busy"
FAILED = "failed"


@dataclass(frozen=True)
class Change:
    """One package whose version changes; ``None`` on one side: added or removed."""

    package: str
    old: str | None
    new: str | None

    def __str__(self) -> str:
        return f"{self.package} {self.old or '(none)'} -> {self.new or '(none)'}"

    def as_dict(self) -> dict[str, object]:
        return {"package": self.package, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Outcome:
    """What became of one environment."""

    name: str
    script: str | None
    status: str
    changes: tuple[Change, ...] = ()
    message: str = ""
    offline: bool = False  # uv could not look at an index: only cached releases counted
    warnings: tuple[str, ...] = ()  # what uv warned about, for this environment

    @property
    def failed(self) -> bool:
        return self.status in (FAILED, BUSY)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "script": self.script,
            "status": self.status,
            "changes": [c.as_dict() for c in self.changes],
            "message": self.message or None,
            "offline": self.offline,
            "warnings": list(self.warnings),
        }


@dataclass
class Report:
    """Every outcome of one command, in the order they finished."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(o.failed for o in self.outcomes)


Callback = Callable[[Outcome], None]


def diff(old: dict[str, str], new: dict[str, str]) -> tuple[Change, ...]:
    """The packages whose versions differ between two ``name -> version`` maps."""
    return tuple(
        Change(name, old.get(name), new.get(name))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    )


def summary(report: Report) -> str:
    """One line counting the outcomes, as ``--all`` ends."""
    counts: dict[str, int] = {}
    for o in report.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    if not counts:
        return "no environments"
    return ", ".join(f"{n} {status}" for status, n in counts.items())
