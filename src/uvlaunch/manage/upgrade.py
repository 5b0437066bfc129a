"""``upgrade``, ``reinstall`` and ``rollback``: keep stable environments current on purpose.

Each environment is handled under its own lock, taken without waiting (a launch that
is creating or syncing it, or another of these commands, makes it "busy": its lock file
says which), by building a new generation beside the current one (generations.py) and
flipping the pointer to it as soon as it is complete, however many scripts are running:
they keep the generation they started with. Nothing waits for them. Outcomes are
reported one by one as they finish, through ``on_done``. None of this is a launch: an
environment's last launch stays what it was (stamp.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from uvlaunch.building import generations, machines, venv
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import lookup, paths, pointer, records, stamp, store
from uvlaunch.home.names import lock_file
from uvlaunch.manage import dryrun
from uvlaunch.manage.inventory import all_names, resolve_targets
from uvlaunch.manage.outcomes import (
    BUSY,
    FAILED,
    GONE,
    LOCKED,
    REINSTALLED,
    ROLLED_BACK,
    UNCHANGED,
    UPGRADED,
    WOULD_CHANGE,
    Callback,
    Change,
    Outcome,
    Report,
    diff,
)
from uvlaunch.scripts.script import Script, read_script
from uvlaunch.uv import calls as uv


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
        path = script.ident.path
        if script.locked:
            lock = lock_file(path)
            return Outcome(
                name,
                path,
                LOCKED,
                message=f"follows its lock file {lock}; update the lock with "
                f"`uv lock --script --upgrade {path}`",
            )
        env = _current(root, name)
        have = venv.installed(env)
        missing = [p for p in packages if venv.normalize(p) not in have]
        if missing:
            # uv ignores a name it does not know: a typo must not pass for "unchanged".
            are = "is" if len(missing) == 1 else "are"
            return Outcome(
                name,
                path,
                FAILED,
                message=f"{', '.join(missing)} {are} not installed in its environment",
            )
        if script.block is None:
            return Outcome(name, path, UNCHANGED)
        plan = dryrun.plan(env, script, uv_bin, packages)

        def outcome(status: str, changes: tuple[Change, ...]) -> Outcome:
            return Outcome(
                name, path, status, changes, offline=plan.offline, warnings=plan.warnings
            )

        changes = diff(plan.removed, plan.added)
        if dry_run or not changes:
            return outcome(WOULD_CHANGE if changes else UNCHANGED, changes)
        new = generations.build(
            root, name, script, uv_bin, upgrading=packages, variant=_mine(root, name)
        )
        changes = diff(have, venv.installed(new))
        _flip(root, name, new)
        return outcome(UPGRADED if changes else UNCHANGED, changes)

    return _each(targets, every, one, on_done, "is upgrading its environment")


def reinstall(
    targets: Iterable[str], *, every: bool = False, on_done: Callback | None = None
) -> Report:
    """Rebuild the environments of ``targets`` from scratch, keeping their versions."""

    def one(root: str, name: str, script: Script, uv_bin: str) -> Outcome:
        before = venv.installed(_current(root, name))
        new = generations.build(
            root, name, script, uv_bin, upgrading=None, variant=_mine(root, name)
        )
        changes = diff(before, venv.installed(new))
        _flip(root, name, new)
        return Outcome(name, script.ident.path, REINSTALLED, changes)

    return _each(targets, every, one, on_done, "is reinstalling its environment")


def _flip(root: str, name: str, new: str) -> None:
    """Make ``new`` current, keeping the last launch of the generation it replaces."""
    launched = stamp.launched_ns(paths.stamp_path(_current(root, name)))
    stamp.set_launched(paths.stamp_path(new), launched)
    generations.flip(root, name, new, variant=_mine(root, name))


def rollback(target: str) -> Outcome:
    """Put back the generation of ``target``'s environment from before its last upgrade."""
    (name,) = resolve_targets([target])
    root = store.open_home()
    # Nothing here runs uv, but the generation put back is kept current by launches that
    # do: refused like upgrade and reinstall, before anything changes.
    uv.version(uv.find_uv())
    attempt = store.try_env_lock(root, name)
    with attempt as taken:
        if not taken:
            raise UvlaunchError(f"{target}: busy: {store.holder(root, name)}; try again")
        attempt.note(f"{os.getpid()} is rolling its environment back")
        env = _current(root, name)
        before = venv.installed(env)
        launched = stamp.launched_ns(paths.stamp_path(env))
        generations.roll_back(root, name, _mine(root, name))
        stamp.set_launched(paths.stamp_path(_current(root, name)), launched)
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
    uv.version(uv_bin)  # too old: one line for the command, not a failure per environment
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
    live = rec.live_name() if rec.names else rec.script
    if live is None or not os.path.lexists(live):
        why = "its script is gone; `uvlaunch gc` removes its environment"
        return Outcome(name, recorded, GONE, message=why)
    try:
        script = read_script(live)
        if lookup.register(root, script.ident).name != name:
            raise UvlaunchError(f"{rec.script}: now belongs to another environment")
    except UvlaunchError as e:
        return Outcome(name, recorded, FAILED, message=_own_words(str(e), rec.script))
    attempt = store.try_env_lock(root, name)
    with attempt as taken:
        if not taken:
            return Outcome(name, recorded, BUSY, message=store.holder(root, name))
        attempt.note(f"{os.getpid()} {doing}")
        if machines.choose(root, name) is None:
            # Only the variants of other machines' interpreters: not ours to change.
            return Outcome(
                name,
                recorded,
                FAILED,
                message="it is not built for this machine's Python yet; launch the script "
                "here first (other machines' environments are theirs to upgrade)",
            )
        env = pointer.current(root, name, _mine(root, name))
        if env is None or stamp.read(paths.stamp_path(env)) is None:
            return Outcome(
                name, recorded, FAILED, message="it is not built yet; launch the script first"
            )
        try:
            return one(root, name, script, uv_bin)
        except (UvlaunchError, OSError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            why = _own_words(why, script.ident.invoked, script.ident.path)
            kept = f"{why}; the environment was left as it was"
            return Outcome(name, recorded, FAILED, message=kept)


def _own_words(message: str, *paths: str) -> str:
    """``message`` without the script's path in front: the outcome's line starts with it."""
    for path in paths:
        if message.startswith(f"{path}: "):
            return message[len(path) + 2 :]
    return message


def _mine(root: str, name: str) -> str:
    """This machine's variant of ``name`` (machines.py): upgrade, reinstall and rollback
    act on it alone, since only this machine's interpreter can build it."""
    variant = machines.choose(root, name)
    if variant is None:
        raise UvlaunchError(
            f"{name}: is not built for this machine's Python yet; launch the script here first"
        )
    return variant


def _current(root: str, name: str) -> str:
    """This machine's current generation of ``name``, whose lock is held."""
    env = pointer.current(root, name, _mine(root, name))
    if env is None:
        raise UvlaunchError(f"{name}: has no current generation; launch the script first")
    return env
