"""The command-line layer: parse, call one library function, print what it returns."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import click

from uvlaunch import __version__, launch, launcher
from uvlaunch import upgrade as upgrade_mod
from uvlaunch.errors import UvlaunchError
from uvlaunch.inventory import human_size

T = TypeVar("T")


def _notify(message: str) -> None:
    click.echo(f"uvlaunch: {message}", err=True)


def _fail(error: UvlaunchError) -> NoReturn:
    click.echo(f"uvlaunch: error: {error}", err=True)
    sys.exit(2)


def _guard(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except UvlaunchError as e:
        _fail(e)


LAUNCH_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Shebang form: `#!/usr/bin/env -S uvlaunch`; `uvlaunch SCRIPT [ARGS]...` runs SCRIPT.",
)
@click.version_option(
    __version__,
    prog_name="uvlaunch",
    message=f"%(prog)s %(version)s ({launcher.kind()} launcher)",
)
def cli() -> None:
    """Run PEP 723 scripts, each in one stable environment outside uv's cache."""


@cli.command(context_settings=LAUNCH_SETTINGS)
@click.option("-q", "--quiet", count=True, help="Pass --quiet on to uv.")
@click.option("-v", "--verbose", count=True, help="Pass --verbose on to uv.")
@click.option(
    "--no-fast-path",
    is_flag=True,
    envvar="UVLAUNCH_NO_FAST_PATH",
    help="Always start the script through `uv run`.",
)
@click.argument("script", type=click.Path(dir_okay=True))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(quiet: int, verbose: int, no_fast_path: bool, script: str, args: tuple[str, ...]) -> None:
    """Run SCRIPT with ARGS in its environment (creating or syncing it first)."""
    if not no_fast_path:
        from uvlaunch import fastpath

        fastpath.try_exec(script, list(args))
    from uvlaunch.main import launch_script

    sys.exit(launch_script(script, list(args), quiet=quiet, verbose=verbose, fast=not no_fast_path))


@cli.command()
@click.option("--python", "show_python", is_flag=True, help="Print the interpreter instead.")
@click.option("--json", "as_json", is_flag=True, help="Print environment, python, script, exists.")
@click.argument("script", type=click.Path(dir_okay=True))
def where(show_python: bool, as_json: bool, script: str) -> None:
    """Print the environment directory SCRIPT uses (creates nothing)."""
    from uvlaunch import where as where_mod

    found = _guard(lambda: where_mod.where(script))
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
    elif show_python:
        click.echo(found.python)
    else:
        click.echo(found.environment)


@cli.command()
@click.option("-q", "--quiet", count=True, help="Pass --quiet on to uv.")
@click.option("-v", "--verbose", count=True, help="Pass --verbose on to uv.")
@click.argument("scripts", nargs=-1, required=True, type=click.Path(dir_okay=True))
def sync(quiet: int, verbose: int, scripts: tuple[str, ...]) -> None:
    """Create or update the environments of SCRIPTS without starting them."""
    for script in scripts:
        try:
            prepared = launch.prepare(script, quiet=quiet, verbose=verbose, notify=_notify)
        except UvlaunchError as e:
            _fail(e)
        prepared.release()
        from uvlaunch import compiling

        # Provisioning: leave the environment compiled, as a launch's background would.
        compiling.compile_now(prepared.root, prepared.name)
        click.echo(f"{script}: {prepared.env}")


@cli.command("exec", context_settings=LAUNCH_SETTINGS)
@click.argument("script", type=click.Path(dir_okay=True))
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(script: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside SCRIPT's environment: `uvlaunch exec s.py -- python -m pip list`."""
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise click.UsageError("give a command after --, for example `-- python`")
    prepared = _guard(lambda: launch.prepare(script, notify=_notify))
    _guard(lambda: launch.exec_in(prepared, argv))


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def list_(as_json: bool) -> None:
    """Show the managed environments: state, Python, size, last launch, script."""
    from uvlaunch import inventory

    infos = _guard(inventory.list_envs)
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], indent=2))
        return
    if not infos:
        click.echo("no environments")
        return
    rows = [
        (
            i.name,
            i.state + ("" if i.complete else " (incomplete)"),
            i.python or "-",
            inventory.human_size(i.freed),
            _ago(i.last_launched),
            i.script or "?",
        )
        for i in infos
    ]
    header = ("NAME", "STATE", "PYTHON", "SIZE", "LAST LAUNCHED", "SCRIPT")
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(5)]
    for row in [header, *rows]:
        cells = [row[c].ljust(widths[c]) for c in range(5)]
        click.echo("  ".join([*cells, row[5]]))


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    import time

    seconds = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return "just now"


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show what would be removed; remove nothing.")
@click.option(
    "--search",
    "search",
    multiple=True,
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
    """Remove environments whose script is gone."""
    from uvlaunch import gc as gc_mod

    unused = _guard(lambda: gc_mod.parse_duration(unused_for)) if unused_for else None
    result = _guard(
        lambda: gc_mod.collect(
            dry_run=dry_run,
            search=search,
            unused_for=unused,
            include_unreachable=include_unreachable,
        )
    )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    for r in result.removed:
        where = f": {r.script}" if r.script else ""
        click.echo(f"{verb} {r.name} ({human_size(r.freed)}): {r.reason}{where}")
    for name, path in result.relocated:
        click.echo(f"{'would keep' if dry_run else 'kept'} {name}: its script is now {path}")
    for name, why in result.skipped:
        click.echo(f"skipped {name}: {why}")
    for name in result.unreadable:
        click.echo(
            f"kept {name}: its record and stamp cannot be read or name different files "
            "(see `uvlaunch list`)"
        )
    freed = human_size(result.freed)
    click.echo(
        f"{'would free' if dry_run else 'freed'} {freed} in {len(result.removed)} environments"
    )


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="SCRIPT|NAME...")
def remove(targets: tuple[str, ...]) -> None:
    """Remove the environments of the given scripts or names."""
    from uvlaunch import gc as gc_mod

    removed, busy = _guard(lambda: gc_mod.remove(targets))
    for info in removed:
        click.echo(f"removed {info.name} ({human_size(info.freed)}): {info.script}")
    for name, why in busy:
        click.echo(f"uvlaunch: skipped {name}: {why}; try again", err=True)
    if busy:
        sys.exit(1)


def _targets_option(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")(fn)
    fn = click.option("--all", "every", is_flag=True, help="Every managed environment.")(fn)
    return click.argument("targets", nargs=-1, metavar="[SCRIPT|NAME]...")(fn)


def _show_outcome(outcome: upgrade_mod.Outcome) -> None:
    label = outcome.script or outcome.name
    status = outcome.status
    if status in (upgrade_mod.UPGRADED, upgrade_mod.WOULD_CHANGE, upgrade_mod.REINSTALLED):
        n = len(outcome.changes)
        status += f" ({n} package{'' if n == 1 else 's'} changed)" if n else ""
    elif status in (upgrade_mod.LOCKED, upgrade_mod.BUSY):
        status = f"skipped ({status})"
    line = f"{label}: {status}" + (f": {outcome.message}" if outcome.message else "")
    click.echo(line, err=outcome.failed)
    for change in outcome.changes:
        click.echo(f"  {change}")


def _finish(report: upgrade_mod.Report, as_json: bool, many: bool) -> None:
    if as_json:
        click.echo(json.dumps([o.as_dict() for o in report.outcomes], indent=2))
    elif many:
        click.echo(upgrade_mod.summary(report))
    sys.exit(1 if report.failed else 0)


@cli.command()
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
    """Upgrade environments to the newest versions their scripts allow (see `rollback`)."""
    report = _guard(
        lambda: upgrade_mod.upgrade(
            targets,
            every=every,
            packages=packages,
            dry_run=dry_run,
            on_done=None if as_json else _show_outcome,
        )
    )
    _finish(report, as_json, every or len(targets) > 1)


@cli.command()
@_targets_option
def reinstall(every: bool, as_json: bool, targets: tuple[str, ...]) -> None:
    """Rebuild environments from scratch with the same versions (repairs damage)."""
    report = _guard(
        lambda: upgrade_mod.reinstall(
            targets, every=every, on_done=None if as_json else _show_outcome
        )
    )
    _finish(report, as_json, every or len(targets) > 1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.argument("target", metavar="SCRIPT|NAME")
def rollback(as_json: bool, target: str) -> None:
    """Put back the environment as it was before its last upgrade or reinstall."""
    outcome = _guard(lambda: upgrade_mod.rollback(target))
    if as_json:
        click.echo(json.dumps(outcome.as_dict(), indent=2))
    else:
        _show_outcome(outcome)


def _printable_paths() -> None:
    """Let any path reach the terminal: non-UTF-8 bytes as they are, else escaped.

    A path that is not UTF-8 is held as surrogate escapes, which a UTF-8 stream refuses,
    and under ``LC_ALL=C`` an ASCII stream refuses every accented name: neither may
    crash ``list`` or ``gc``.
    """
    import codecs

    def handler(error: UnicodeError) -> tuple[str | bytes, int]:
        assert isinstance(error, UnicodeEncodeError)
        bad = error.object[error.start : error.end]
        if all("\udc80" <= c <= "\udcff" for c in bad):
            return bytes(ord(c) - 0xDC00 for c in bad), error.end
        return codecs.backslashreplace_errors(error)

    codecs.register_error("uvlaunch-paths", handler)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="uvlaunch-paths")


def main(args: list[str]) -> int:
    """Run the click group on ``args``; returns its exit status."""
    _printable_paths()
    try:
        cli.main(args=args, prog_name="uvlaunch", standalone_mode=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0
