"""The commands that change environments: gc, remove, upgrade, reinstall, rollback.
Each parses, calls one library function and prints its result."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click

from uvlaunch.cli import completion
from uvlaunch.cli.output import count, guard, human_size, say
from uvlaunch.manage import outcomes
from uvlaunch.manage import upgrade as upgrade_mod
from uvlaunch.manage.dryrun import OFFLINE


@click.command(short_help="Remove environments whose script is gone.")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; remove nothing.")
@click.option(
    "--search",
    "search",
    multiple=True,
    metavar="DIR",
    type=click.Path(file_okay=False, exists=True),
    help="Look for orphans' files (by inode) under DIR; found ones are kept. Repeatable.",
)
@click.option(
    "--unused-for",
    metavar="DURATION",
    help="Also remove environments not launched for this long (90d, 12h).",
)
@click.option(
    "--include-unreachable",
    is_flag=True,
    help="Also remove environments whose volume is not mounted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def gc(
    dry_run: bool,
    search: tuple[str, ...],
    unused_for: str | None,
    include_unreachable: bool,
    as_json: bool,
) -> None:
    """Remove environments whose script is gone (and piped ones unused for 30 days)."""
    from uvlaunch.manage import gc as gc_mod

    unused = (
        guard(lambda: gc_mod.parse_duration(unused_for), as_json=as_json) if unused_for else None
    )
    result = guard(
        lambda: gc_mod.collect(
            dry_run=dry_run,
            search=search,
            unused_for=unused,
            include_unreachable=include_unreachable,
        ),
        as_json=as_json,
    )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    for r in result.removed:
        where = f": {r.script}" if r.script else ""
        what = f"{r.name} {r.generation}" if r.generation else r.name
        say(f"{verb} {what} ({human_size(r.freed)}): {r.reason}{where}")
        for command in r.commands:
            say(f"  {verb} the command {command}")
    for name, path in result.relocated:
        say(f"{'would keep' if dry_run else 'kept'} {name}: its script is now {path}")
    for name, why in result.skipped:
        say(f"skipped {name}: {why}")
    for name in result.unreadable:
        say(
            f"kept {name}: its record and stamp cannot be read or name different files "
            "(see `uvlaunch list`)"
        )
    if result.leftovers:
        removed = "would remove" if dry_run else "removed"
        say(f"{removed} leftovers of interrupted commands ({human_size(result.leftovers)})")
    freed = human_size(result.freed)
    old = len(result.removed) - result.environments
    parts = [count(result.environments, "environment")] if result.environments or not old else []
    parts += [count(old, "old generation")] if old else []
    say(f"{'would free' if dry_run else 'freed'} {freed} in {' and '.join(parts)}")


@click.command(short_help="Remove the given environments.")
@click.option("--all", "every", is_flag=True, help="Remove every environment (a clean slate).")
@click.argument("targets", nargs=-1, metavar="[SCRIPT|NAME]...", shell_complete=completion.targets)
def remove(every: bool, targets: tuple[str, ...]) -> None:
    """Remove the environments of the given scripts or names (or --all of them)."""
    from uvlaunch.manage import remove as remove_mod

    if every == bool(targets):
        raise click.UsageError("give the scripts or names to remove, or --all")
    removed, busy, in_use = guard(lambda: remove_mod.remove(targets, every=every))
    for info in removed:
        say(f"removed {info.name} ({human_size(info.freed)}): {info.script or '(piped)'}")
        for command in info.commands:
            say(f"  removed the command {command}")
    for name, generation in in_use:
        from uvlaunch.manage import sharing

        why = "a running script is using it; `uvlaunch gc` deletes it once the script has exited"
        say(
            f"uvlaunch: kept {name} {generation} for now: {sharing.kept_in(name, generation, why)}",
            err=True,
        )
    for name, why in busy:
        say(f"uvlaunch: skipped {name}: {why}; try again", err=True)
    if every:
        say(f"removed {count(len(removed), 'environment')}")
    if busy:
        sys.exit(1)


def _targets_option(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")(fn)
    fn = click.option("--all", "every", is_flag=True, help="Every managed environment.")(fn)
    return click.argument(
        "targets", nargs=-1, metavar="[SCRIPT|NAME]...", shell_complete=completion.targets
    )(fn)


def _show_outcome(outcome: outcomes.Outcome) -> None:
    label = outcome.script or outcome.name
    status = outcome.status
    notes = []
    if status in (
        outcomes.UPGRADED,
        outcomes.WOULD_CHANGE,
        outcomes.REINSTALLED,
        outcomes.ROLLED_BACK,
    ):
        n = len(outcome.changes)
        notes += [f"{count(n, 'package')} changed"] if n else []
    elif status in (outcomes.LOCKED, outcomes.BUSY, outcomes.GONE):
        status = f"skipped ({status})"
    if outcome.offline:
        notes.append(OFFLINE)
    status += f" ({'; '.join(notes)})" if notes else ""
    line = f"{label}: {status}" + (f": {outcome.message}" if outcome.message else "")
    say(line, err=outcome.failed)
    for change in outcome.changes:
        say(f"  {change}")
    for warning in outcome.warnings:
        say(f"{label}: warning: {warning}", err=True)


def _check_targets(every: bool, targets: tuple[str, ...]) -> None:
    if every and targets:
        raise click.UsageError("give scripts or names, or --all, not both")
    if not every and not targets:
        raise click.UsageError("give the scripts or names of the environments, or --all")


def _finish(report: outcomes.Report, as_json: bool, many: bool) -> None:
    if as_json:
        click.echo(json.dumps([o.as_dict() for o in report.outcomes], indent=2))
    elif many:
        click.echo(outcomes.summary(report))
    sys.exit(1 if report.failed else 0)


@click.command(short_help="Upgrade environments to the newest versions allowed.")
@click.option(
    "--package",
    "-P",
    "packages",
    multiple=True,
    metavar="PKG",
    help="Upgrade only this package (repeatable), like uv's --upgrade-package.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@_targets_option
def upgrade(
    packages: tuple[str, ...], dry_run: bool, every: bool, as_json: bool, targets: tuple[str, ...]
) -> None:
    """Upgrade environments to the newest versions their scripts allow (see `rollback`).

    Offline, uv considers only the releases in its cache, and says so.
    """
    _check_targets(every, targets)
    report = guard(
        lambda: upgrade_mod.upgrade(
            targets,
            every=every,
            packages=packages,
            dry_run=dry_run,
            on_done=None if as_json else _show_outcome,
        ),
        as_json=as_json,
    )
    _finish(report, as_json, every or len(targets) > 1)


@click.command(short_help="Rebuild environments from scratch, same versions.")
@_targets_option
def reinstall(every: bool, as_json: bool, targets: tuple[str, ...]) -> None:
    """Rebuild environments from scratch with the same versions (repairs damage)."""
    _check_targets(every, targets)
    report = guard(
        lambda: upgrade_mod.reinstall(
            targets, every=every, on_done=None if as_json else _show_outcome
        ),
        as_json=as_json,
    )
    _finish(report, as_json, every or len(targets) > 1)


@click.command(short_help="Put back the environment from before the last upgrade.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.argument("target", metavar="SCRIPT|NAME", shell_complete=completion.targets)
def rollback(as_json: bool, target: str) -> None:
    """Put back the environment as it was before its last upgrade or reinstall."""
    outcome = guard(lambda: upgrade_mod.rollback(target), as_json=as_json)
    if as_json:
        click.echo(json.dumps(outcome.as_dict(), indent=2))
    else:
        _show_outcome(outcome)


COMMANDS = [gc, remove, upgrade, reinstall, rollback]
