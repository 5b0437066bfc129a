"""The commands that look after environments: list, show, dir, gc, remove, upgrade,
reinstall, rollback. Each parses, calls one library function and prints its result."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click

from uvlaunch import upgrade as upgrade_mod
from uvlaunch.cliout import count, guard
from uvlaunch.dryrun import OFFLINE
from uvlaunch.inventory import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from uvlaunch import inventory as inventory_mod


@click.command("list", short_help="Show the managed environments.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def list_(as_json: bool) -> None:
    """Show the managed environments: state, Python, size, last launch, script.

    SIZE is what removing the environment would free (files it shares with uv's cache
    are not counted); `--json` also gives the full size.
    """
    from uvlaunch import inventory

    infos = guard(inventory.list_envs, as_json=as_json)
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], indent=2))
        return
    if not infos:
        click.echo("no environments")
        return
    rows: list[tuple[str, ...]] = [
        (
            i.name,
            i.state + ("" if i.complete else " (incomplete)"),
            _pythons(i),
            human_size(i.freed),
            _ago(i.last_launched),
            i.script or ("(piped)" if i.state == inventory.PIPED else "?"),
        )
        for i in infos
    ]
    header: tuple[str, ...] = ("NAME", "STATE", "PYTHON", "SIZE", "LAST LAUNCHED", "SCRIPT")
    if any(i.commands for i in infos):  # the column only for those who installed some
        header = (*header[:5], "COMMANDS", header[5])
        rows = [(*r[:5], _names(i.commands), r[5]) for r, i in zip(rows, infos, strict=True)]
    last = len(header) - 1
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(last)]
    for row in [header, *rows]:
        cells = [row[c].ljust(widths[c]) for c in range(last)]
        click.echo("  ".join([*cells, row[last]]))


def _pythons(i: inventory_mod.EnvInfo) -> str:
    """The Python of each machine's variant, this machine's own marked when there are more."""
    if len(i.variants) < 2:
        return i.python or "-"
    return ",".join(v.python + ("" if v.here else "(elsewhere)") for v in i.variants)


def _names(commands: tuple[str, ...]) -> str:
    import os

    return ",".join(os.path.basename(c) for c in commands) or "-"


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    import time

    seconds = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return "just now"


@click.command(short_help="Show one environment and its packages.")
@click.option("--json", "as_json", is_flag=True, help="Print it as a JSON object.")
@click.argument("target", metavar="SCRIPT|NAME")
def show(as_json: bool, target: str) -> None:
    """Show the environment of SCRIPT (or the one called NAME) and its packages."""
    from uvlaunch import inventory

    found = guard(lambda: inventory.details(target), as_json=as_json)
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
        return
    i = found.info
    for label, value in (
        ("name", i.name),
        ("script", i.script or ("(piped)" if i.state == inventory.PIPED else "?")),
        ("state", i.state + ("" if i.complete else " (incomplete)")),
        ("environment", i.environment),
        ("python", i.python or "-"),
        ("size", f"{human_size(i.freed)} to free, {human_size(i.size)} in all"),
        ("last launched", _ago(i.last_launched)),
        ("last synced", _ago(i.last_synced)),
        ("rollback", "available" if i.rollback else "none"),
        ("commands", ", ".join(i.commands) or "none"),
    ):
        click.echo(f"{label + ':':15}{value}")
    for v in i.variants if len(i.variants) > 1 else ():
        where = "on this machine" if v.here else "not on this machine"
        line = f"{v.pointer} -> {v.generation}: Python {v.python} {v.interpreter} ({where})"
        click.echo(f"{'variant:':15}{line}")
    if found.damage:
        click.echo(f"{'damaged:':15}{'; '.join(found.damage)}; run `uvlaunch reinstall`")
    click.echo(f"{'packages:':15}{count(len(found.packages), 'package')}")
    for package, version in found.packages.items():
        click.echo(f"  {package} {version}")


@click.command("dir", short_help="Print uvlaunch's home.")
def dir_() -> None:
    """Print uvlaunch's home, where the environments live (UVLAUNCH_HOME sets it)."""
    from uvlaunch import paths

    click.echo(guard(paths.home))


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
    from uvlaunch import gc as gc_mod

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
        click.echo(f"{verb} {what} ({human_size(r.freed)}): {r.reason}{where}")
        for command in r.commands:
            click.echo(f"  {verb} the command {command}")
    for name, path in result.relocated:
        click.echo(f"{'would keep' if dry_run else 'kept'} {name}: its script is now {path}")
    for name, why in result.skipped:
        click.echo(f"skipped {name}: {why}")
    for name in result.unreadable:
        click.echo(
            f"kept {name}: its record and stamp cannot be read or name different files "
            "(see `uvlaunch list`)"
        )
    if result.leftovers:
        removed = "would remove" if dry_run else "removed"
        click.echo(f"{removed} leftovers of interrupted commands ({human_size(result.leftovers)})")
    freed = human_size(result.freed)
    old = len(result.removed) - result.environments
    parts = [count(result.environments, "environment")] if result.environments or not old else []
    parts += [count(old, "old generation")] if old else []
    click.echo(f"{'would free' if dry_run else 'freed'} {freed} in {' and '.join(parts)}")


@click.command(short_help="Remove the given environments.")
@click.option("--all", "every", is_flag=True, help="Remove every environment (a clean slate).")
@click.argument("targets", nargs=-1, metavar="[SCRIPT|NAME]...")
def remove(every: bool, targets: tuple[str, ...]) -> None:
    """Remove the environments of the given scripts or names (or --all of them)."""
    from uvlaunch import gc as gc_mod

    if every == bool(targets):
        raise click.UsageError("give the scripts or names to remove, or --all")
    removed, busy, in_use = guard(lambda: gc_mod.remove(targets, every=every))
    for info in removed:
        click.echo(f"removed {info.name} ({human_size(info.freed)}): {info.script or '(piped)'}")
        for command in info.commands:
            click.echo(f"  removed the command {command}")
    for name, generation in in_use:
        click.echo(
            f"uvlaunch: kept {name} {generation} for now: a running script is using it; "
            "`uvlaunch gc` deletes it once the script has exited",
            err=True,
        )
    for name, why in busy:
        click.echo(f"uvlaunch: skipped {name}: {why}; try again", err=True)
    if every:
        click.echo(f"removed {count(len(removed), 'environment')}")
    if busy:
        sys.exit(1)


def _targets_option(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")(fn)
    fn = click.option("--all", "every", is_flag=True, help="Every managed environment.")(fn)
    return click.argument("targets", nargs=-1, metavar="[SCRIPT|NAME]...")(fn)


def _show_outcome(outcome: upgrade_mod.Outcome) -> None:
    label = outcome.script or outcome.name
    status = outcome.status
    notes = []
    if status in (
        upgrade_mod.UPGRADED,
        upgrade_mod.WOULD_CHANGE,
        upgrade_mod.REINSTALLED,
        upgrade_mod.ROLLED_BACK,
    ):
        n = len(outcome.changes)
        notes += [f"{count(n, 'package')} changed"] if n else []
    elif status in (upgrade_mod.LOCKED, upgrade_mod.BUSY, upgrade_mod.GONE):
        status = f"skipped ({status})"
    if outcome.offline:
        notes.append(OFFLINE)
    status += f" ({'; '.join(notes)})" if notes else ""
    line = f"{label}: {status}" + (f": {outcome.message}" if outcome.message else "")
    click.echo(line, err=outcome.failed)
    for change in outcome.changes:
        click.echo(f"  {change}")
    for warning in outcome.warnings:
        click.echo(f"{label}: warning: {warning}", err=True)


def _check_targets(every: bool, targets: tuple[str, ...]) -> None:
    if every and targets:
        raise click.UsageError("give scripts or names, or --all, not both")
    if not every and not targets:
        raise click.UsageError("give the scripts or names of the environments, or --all")


def _finish(report: upgrade_mod.Report, as_json: bool, many: bool) -> None:
    if as_json:
        click.echo(json.dumps([o.as_dict() for o in report.outcomes], indent=2))
    elif many:
        click.echo(upgrade_mod.summary(report))
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
@click.argument("target", metavar="SCRIPT|NAME")
def rollback(as_json: bool, target: str) -> None:
    """Put back the environment as it was before its last upgrade or reinstall."""
    outcome = guard(lambda: upgrade_mod.rollback(target), as_json=as_json)
    if as_json:
        click.echo(json.dumps(outcome.as_dict(), indent=2))
    else:
        _show_outcome(outcome)


COMMANDS = [list_, show, dir_, gc, remove, upgrade, reinstall, rollback]
