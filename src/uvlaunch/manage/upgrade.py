"""``upgrade``, ``reinstall`` and ``rollback``: keep stable environments current on purpose.

Each environment is handled under its own lock, taken without waiting (a launch that
is creating or syncing it, or another of these commands, makes it "busy": its lock file
says which), and under its build claim, which reaches the machines its lock may not
(claims.py: another machine building or upgrading it makes it busy too), by building a
new generation beside the current one (generations.py) and flipping the pointer to it
as soon as it is complete, however many scripts are running: they keep the generation
they started with. Nothing waits for them. Outcomes are reported one by one as they
finish, through ``on_done``. None of this is a launch: an environment's last launch
stays what it was (stamp.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from uvlaunch.building import claims, generations, machines, venv
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import lookup, paths, records, stamp, store
from uvlaunch.home.env import Env
from uvlaunch.home.names import lock_file
from uvlaunch.manage import dryrun
from uvlaunch.manage.inventory import all_names
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
from uvlaunch.manage.targets import resolve_targets
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

    def one(env: Env, script: Script, uv_bin: str) -> Outcome:
        name = env.name
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
        current = _current(env)
        have = venv.installed(current)
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
        plan = dryrun.plan(env, current, script, uv_bin, packages)

        def outcome(status: str, changes: tuple[Change, ...]) -> Outcome:
            return Outcome(
                name, path, status, changes, offline=plan.offline, warnings=plan.warnings
            )

        changes = diff(plan.removed, plan.added)
        if dry_run or not changes:
            return outcome(WOULD_CHANGE if changes else UNCHANGED, changes)
        new = generations.build(env, script, uv_bin, upgrading=packages)
        changes = diff(have, venv.installed(new))
        _flip(env, new)
        return outcome(UPGRADED if changes else UNCHANGED, changes)

    return _each(targets, every, one, on_done, "is upgrading its environment")


def reinstall(
    targets: Iterable[str], *, every: bool = False, on_done: Callback | None = None
) -> Report:
    """Rebuild the environments of ``targets`` from scratch, keeping their versions."""

    def one(env: Env, script: Script, uv_bin: str) -> Outcome:
        before = venv.installed(_current(env))
        new = generations.build(env, script, uv_bin, upgrading=None)
        changes = diff(before, venv.installed(new))
        _flip(env, new)
        return Outcome(env.name, script.ident.path, REINSTALLED, changes)

    return _each(targets, every, one, on_done, "is reinstalling its environment")


def _flip(env: Env, new: str) -> None:
    """Make ``new`` current, keeping the last launch of the generation it replaces."""
    launched = stamp.launched_ns(paths.stamp_path(_current(env)))
    stamp.set_launched(paths.stamp_path(new), launched)
    generations.flip(env, new)


def rollback(target: str) -> Outcome:
    """Put back the generation of ``target``'s environment from before its last upgrade."""
    (name,) = resolve_targets([target])
    root = store.open_home()
    # Nothing here runs uv, but the generation put back is kept current by launches that
    # do: refused like upgrade and reinstall, before anything changes.
    uv.version(uv.find_uv())
    base = Env(root, name)
    attempt = base.try_lock()
    with attempt as taken:
        if not taken:
            raise UvlaunchError(f"{target}: busy: {base.holder()}; try again")
        attempt.note(f"{os.getpid()} is rolling its environment back")
        claim = claims.take(base)
        if claim is None:
            raise UvlaunchError(f"{target}: busy: {claims.busy(base)}; try again")
        try:
            return _roll_back(base)
        finally:
            claim.release()


def _roll_back(base: Env) -> Outcome:
    """``rollback`` of ``base``, whose lock and claim are held."""
    env = _mine(base)
    current = _current(env)
    before = venv.installed(current)
    launched = stamp.launched_ns(paths.stamp_path(current))
    generations.roll_back(env)
    stamp.set_launched(paths.stamp_path(_current(env)), launched)
    rec = records.read_record(base.root, base.name)
    script = rec.script if rec is not None else None
    return Outcome(base.name, script, ROLLED_BACK, diff(before, venv.installed(_current(env))))


def _each(
    targets: Iterable[str],
    every: bool,
    one: Callable[[Env, Script, str], Outcome],
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
        outcome = _one(Env(root, name), uv_bin, one, doing)
        report.outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return report


def _one(base: Env, uv_bin: str, one: Callable[[Env, Script, str], Outcome], doing: str) -> Outcome:
    root, name = base.root, base.name
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
    attempt = base.try_lock()
    with attempt as taken:
        if not taken:
            return Outcome(name, recorded, BUSY, message=base.holder())
        attempt.note(f"{os.getpid()} {doing}")
        try:
            claim = claims.take(base)
        except UvlaunchError as e:
            return Outcome(name, recorded, FAILED, message=str(e))
        if claim is None:
            return Outcome(name, recorded, BUSY, message=claims.busy(base))
        try:
            return _claimed(base, script, uv_bin, one, recorded)
        finally:
            claim.release()


def _claimed(
    base: Env,
    script: Script,
    uv_bin: str,
    one: Callable[[Env, Script, str], Outcome],
    recorded: str | None,
) -> Outcome:
    """``one`` on this machine's variant of ``base``, whose lock and claim are held."""
    name = base.name
    variant = machines.choose(base)
    if variant is None:
        # Only the variants of other machines' interpreters: not ours to change.
        return Outcome(
            name,
            recorded,
            FAILED,
            message="it is not built for this machine's Python yet; launch the script "
            "here first (other machines' environments are theirs to upgrade)",
        )
    env = base.with_variant(variant)
    current = env.current()
    if current is None or stamp.read(paths.stamp_path(current)) is None:
        return Outcome(
            name, recorded, FAILED, message="it is not built yet; launch the script first"
        )
    try:
        env.check()  # before anything is built in it
        return one(env, script, uv_bin)
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


def _mine(base: Env) -> Env:
    """This machine's variant of ``base`` (machines.py): upgrade, reinstall and rollback
    act on it alone, since only this machine's interpreter can build it."""
    variant = machines.choose(base)
    if variant is None:
        raise UvlaunchError(
            f"{base.name}: is not built for this machine's Python yet; launch the script here first"
        )
    return base.with_variant(variant)


def _current(env: Env) -> str:
    """The current generation of ``env``'s variant, whose lock is held."""
    current = env.current()
    if current is None:
        raise UvlaunchError(f"{env.name}: has no current generation; launch the script first")
    return current
