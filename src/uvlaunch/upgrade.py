"""``upgrade``, ``reinstall`` and ``rollback``: keep stable environments current on purpose.

Each environment is handled under its own lock, taken without waiting (a launch that
is creating or syncing it makes it "busy"), by building a new generation beside the
current one (generations.py) and flipping the pointer to it as soon as it is complete,
however many scripts are running: they keep the generation they started with. Nothing
waits for them. Outcomes are reported one by one as they finish, through ``on_done``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from uvlaunch import (
    generations,
    identity,
    launch,
    paths,
    pointer,
    records,
    stamp,
    store,
    uv,
    uvoutput,
    venv,
)
from uvlaunch.errors import UvlaunchError
from uvlaunch.inventory import all_names, resolve_targets
from uvlaunch.script import Script, read_script

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
        }


@dataclass
class Report:
    """Every outcome of one command, in the order they finished."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(o.failed for o in self.outcomes)


Callback = Callable[[Outcome], None]


def upgrade(
    targets: Iterable[str],
    *,
    every: bool = False,
    packages: tuple[str, ...] = (),
    dry_run: bool = False,
    on_done: Callback | None = None,
) -> Report:
    """Upgrade the environments of ``targets`` (or ``every`` one) to the newest versions."""

    def one(root: str, name: str, script: Script, uv_bin: str) -> Outcome:
        if script.locked:
            lock = identity.lock_file(script.ident.path)
            return Outcome(
                name,
                script.ident.path,
                LOCKED,
                message=f"follows its lock file {lock}; update the lock with "
                f"`uv lock --script --upgrade {script.ident.path}`",
            )
        env = _current(root, name)
        planned = _dry_run(env, script, uv_bin, packages)
        if dry_run or not planned:
            return Outcome(name, script.ident.path, WOULD_CHANGE if planned else UNCHANGED, planned)
        new = generations.build(root, name, script, uv_bin, upgrade=True, packages=packages)
        changes = diff(venv.installed(env), venv.installed(new))
        generations.flip(root, name, new)
        return Outcome(name, script.ident.path, UPGRADED if changes else UNCHANGED, changes)

    return _each(targets, every, one, on_done, "is upgrading its environment")


def reinstall(
    targets: Iterable[str], *, every: bool = False, on_done: Callback | None = None
) -> Report:
    """Rebuild the environments of ``targets`` from scratch, keeping their versions."""

    def one(root: str, name: str, script: Script, uv_bin: str) -> Outcome:
        before = venv.installed(_current(root, name))
        new = generations.build(root, name, script, uv_bin, upgrade=False)
        changes = diff(before, venv.installed(new))
        generations.flip(root, name, new)
        return Outcome(name, script.ident.path, REINSTALLED, changes)

    return _each(targets, every, one, on_done, "is reinstalling its environment")


def rollback(target: str) -> Outcome:
    """Put back the generation of ``target``'s environment from before its last upgrade."""
    (name,) = resolve_targets([target])
    root = store.open_home()
    attempt = store.try_env_lock(root, name)
    with attempt as taken:
        if not taken:
            raise UvlaunchError(
                f"{target}: a launch is creating or syncing its environment; try again"
            )
        attempt.note(f"{os.getpid()} is rolling its environment back")
        before = venv.installed(_current(root, name))
        generations.roll_back(root, name)
        rec = records.read_record(root, name)
        script = rec.script if rec is not None else None
        return Outcome(
            name, script, ROLLED_BACK, diff(before, venv.installed(_current(root, name)))
        )


def _each(
    targets: Iterable[str],
    every: bool,
    one: Callable[[str, str, Script, str], Outcome],
    on_done: Callback | None,
    doing: str,
) -> Report:
    targets = list(targets)
    if every and targets:
        raise UvlaunchError("give scripts or names, or --all, not both")
    if not every and not targets:
        raise UvlaunchError("give the scripts or names of the environments, or --all")
    root = store.open_home()
    names = all_names(root) if every else resolve_targets(targets)  # all known, or nothing
    uv_bin = uv.find_uv()
    report = Report()
    for name in names:
        outcome = _one(root, name, uv_bin, one, doing)
        report.outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return report


def _one(
    root: str,
    name: str,
    uv_bin: str,
    one: Callable[[str, str, Script, str], Outcome],
    doing: str,
) -> Outcome:
    rec = records.read_record(root, name)
    recorded = rec.script if rec is not None else None
    if rec is None:
        return Outcome(name, None, FAILED, message="its record cannot be read; see `uvlaunch list`")
    if not os.path.lexists(rec.script):
        why = "its script is gone; `uvlaunch gc` removes its environment"
        return Outcome(name, recorded, GONE, message=why)
    try:
        script = read_script(rec.script)
        if launch.register(root, script.ident).name != name:
            raise UvlaunchError(f"{rec.script}: now belongs to another environment")
    except UvlaunchError as e:
        return Outcome(name, recorded, FAILED, message=str(e))
    attempt = store.try_env_lock(root, name)
    with attempt as taken:
        if not taken:
            return Outcome(name, recorded, BUSY, message="a launch is creating or syncing it")
        attempt.note(f"{os.getpid()} {doing}")
        env = pointer.current(root, name)
        if env is None or stamp.read(paths.stamp_path(env)) is None:
            return Outcome(
                name, recorded, FAILED, message="it is not built yet; launch the script first"
            )
        try:
            return one(root, name, script, uv_bin)
        except (UvlaunchError, OSError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            kept = f"{why}; the environment was left as it was"
            return Outcome(name, recorded, FAILED, message=kept)


def _current(root: str, name: str) -> str:
    """The current generation of ``name``, whose lock is held (``_one`` checked it exists)."""
    env = pointer.current(root, name)
    if env is None:
        raise UvlaunchError(f"{name}: has no current generation; launch the script first")
    return env


def _dry_run(
    env: str, script: Script, uv_bin: str, packages: tuple[str, ...]
) -> tuple[Change, ...]:
    """The changes ``uv sync --upgrade --dry-run`` reports for the environment as it is."""
    if script.block is None:
        return ()
    argv = uv.sync_argv(uv_bin, script.ident.path, python=None, quiet=0, verbose=0)
    argv += ["--dry-run"] + (["--upgrade"] if not packages else [])
    for package in packages:
        argv += ["--upgrade-package", package]
    rc, out = uv.capture(argv, env)
    if rc != 0:
        why = uvoutput.reason(out, rc)
        raise UvlaunchError(f"{script.ident.invoked}: uv could not resolve an upgrade: {why}")
    removed: dict[str, str] = {}
    added: dict[str, str] = {}
    for line in out.splitlines():
        line = line.strip()
        if line[:2] in ("- ", "+ "):
            name, _, version = line[2:].partition("==")
            if not version:
                name, _, version = line[2:].partition(" @ ")
            (removed if line[0] == "-" else added)[venv.normalize(name.strip())] = version.strip()
    return diff(removed, added)


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
