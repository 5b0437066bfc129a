"""The commands that put scripts on PATH: install and uninstall (install.py does the work)."""

from __future__ import annotations

import click

from uvlaunch.cli import completion
from uvlaunch.cli.output import guard, notify, say


def _export_line(directory: str) -> str:
    if any(c in directory for c in '"$`\\'):
        import shlex

        return f'export PATH={shlex.quote(directory)}:"$PATH"'
    return f'export PATH="{directory}:$PATH"'


@click.command(short_help="Put a script on PATH as a command.")
@click.option(
    "--name", metavar="NAME", help="The command's name (default: the file name without .py)."
)
@click.option("--force", is_flag=True, help="Replace a file of that name uvlaunch did not make.")
@click.option("-q", "--quiet", count=True, help="Pass --quiet on to uv.")
@click.option("-v", "--verbose", count=True, help="Show uv's whole report.")
@click.argument("script", type=click.Path(dir_okay=True))
def install(name: str | None, force: bool, quiet: int, verbose: int, script: str) -> None:
    """Build SCRIPT's environment and put a command for it into the bin directory.

    The command runs SCRIPT where it is: edits take effect on the next run. The bin
    directory is UVLAUNCH_BIN_DIR, else XDG_BIN_HOME, else ~/.local/bin.
    """
    from uvlaunch.manage import install as install_mod

    done = guard(
        lambda: install_mod.install(
            script, name=name, force=force, quiet=quiet, verbose=verbose, notify=notify
        )
    )
    if done.status == install_mod.UNCHANGED:
        say(f"{done.name} is already installed: {done.path} runs {done.script}")
    else:
        say(f"{done.status} {done.name}: {done.path} runs {done.script}")
    if not done.on_path:
        notify(f"warning: {done.bin_dir} is not on your PATH; to run {done.name} by its name, run:")
        say(f"  {_export_line(done.bin_dir)}", err=True)
    elif done.shadowed_by is not None:
        notify(f"warning: {done.shadowed_by} comes first on your PATH: `{done.name}` runs that one")


@click.command(short_help="Remove a command that install made.")
@click.argument("target", metavar="NAME|SCRIPT", shell_complete=completion.commands)
def uninstall(target: str) -> None:
    """Remove the command NAME, or the commands that run SCRIPT.

    Only files that uvlaunch install made are removed. The environment stays until
    `uvlaunch gc` or `uvlaunch remove` removes it.
    """
    from uvlaunch.manage import uninstall as uninstall_mod

    for path in guard(lambda: uninstall_mod.uninstall(target)):
        say(f"removed {path}")


COMMANDS = [install, uninstall]
