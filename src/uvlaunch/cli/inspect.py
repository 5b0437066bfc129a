"""The commands that look at environments: list, show, dir. Each parses, calls one
library function and prints its result."""

from __future__ import annotations

import json

import click

from uvlaunch.cli import completion
from uvlaunch.cli.output import count, guard, human_size, say, say_lines, say_path
from uvlaunch.errors import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from uvlaunch.manage import inventory as inventory_mod


@click.command("list", short_help="Show the managed environments.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def list_(as_json: bool) -> None:
    """Show the managed environments: state, Python, size, last launch, script.

    SIZE is what removing the environment would free (files it shares with uv's cache
    are not counted); `--json` also gives the full size.
    """
    from uvlaunch.manage import inventory, sharing

    infos = guard(inventory.list_envs, as_json=as_json)
    if as_json:  # who shares what: two more reads per environment, for --json only
        shares = [sharing.shared_with(i.environment) for i in infos]
        data = [{**i.as_dict(), "shares": s} for i, s in zip(infos, shares, strict=True)]
        click.echo(json.dumps(data, indent=2))
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
    rows = [tuple(printable(cell) for cell in row) for row in rows]  # widths as printed
    last = len(header) - 1
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(last)]
    lines = [
        "  ".join([*(row[c].ljust(widths[c]) for c in range(last)), row[last]])
        for row in [header, *rows]
    ]
    say_lines([*lines, SIZE_NOTE])


# What SIZE counts, said under the table: 1.9 MiB for an environment of 126 MiB surprises.
SIZE_NOTE = (
    "SIZE: what `uvlaunch remove` would free; files hard-linked from uv's cache are not "
    "counted (`show` and `--json` give the size in all)"
)


def _pythons(i: inventory_mod.EnvInfo) -> str:
    """The Python of each machine's variant, this machine's own marked when there are more."""
    if len(i.variants) < 2:
        return i.python or "-"
    return ",".join(v.python + ("" if v.here else "(elsewhere)") for v in i.variants)


def _shared(i: inventory_mod.EnvInfo) -> str:
    return " (the rest is hard-linked from uv's cache)" if i.size > i.freed else ""


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
@click.argument("target", metavar="SCRIPT|NAME", shell_complete=completion.targets)
def show(as_json: bool, target: str) -> None:
    """Show the environment of SCRIPT (or the one called NAME) and its packages."""
    from uvlaunch.manage import inventory
    from uvlaunch.manage import show as show_mod

    found = guard(lambda: show_mod.details(target), as_json=as_json)
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
        ("size", f"{human_size(i.freed)} to free, {human_size(i.size)} in all{_shared(i)}"),
        ("last launched", _ago(i.last_launched)),
        ("last synced", _ago(i.last_synced)),
        ("rollback", "available" if i.rollback else "none"),
        ("commands", ", ".join(i.commands) or "none"),
    ):
        say(f"{label + ':':15}{value}")
    for v in i.variants if len(i.variants) > 1 else ():
        where = "on this machine" if v.here else "not on this machine"
        line = f"{v.pointer} -> {v.generation}: Python {v.python} {v.interpreter} ({where})"
        say(f"{'variant:':15}{line}")
    if found.shares:
        # Shared bytes are counted once: in the size of the environment that holds them.
        how = "uses the packages of" if found.thin else "its packages are used by"
        say(f"{'shared:':15}{how} {', '.join(found.shares)} (counted once, in the holder's size)")
    if found.damage:
        say(f"{'damaged:':15}{'; '.join(found.damage)}; run `uvlaunch reinstall`")
    say(f"{'packages:':15}{count(len(found.packages), 'package')}")
    for package, version in found.packages.items():
        say(f"  {package} {version}")


@click.command("dir", short_help="Print uvlaunch's home.")
def dir_() -> None:
    """Print uvlaunch's home, where the environments live (UVLAUNCH_HOME sets it)."""
    from uvlaunch.home import paths

    say_path(guard(paths.home), instead="set UVLAUNCH_HOME to a plainer one")


COMMANDS = [list_, show, dir_]
