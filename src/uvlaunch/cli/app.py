"""The command-line layer: parse, call one library function, print what it returns.

This module holds the group, its help, and the commands that launch things; the
commands that look at environments are in cli/inspect.py, those that change them in
cli/manage.py.
"""

from __future__ import annotations

import json
import sys

import click

from uvlaunch import __version__
from uvlaunch.cli import completion, launcher
from uvlaunch.cli import inspect as cli_inspect
from uvlaunch.cli import install as cli_install
from uvlaunch.cli import manage as cli_manage
from uvlaunch.cli.output import fail, guard, notify, say, say_path
from uvlaunch.errors import UvlaunchError, unexpected
from uvlaunch.launching import launch

LAUNCH_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}

EPILOG = """\b
Launch options (-q, -v, --no-fast-path) go before the script; every word after
the script is the script's own. `uvlaunch -` reads the script from standard input,
`uvlaunch https://host/tool.py` fetches it (the copy fetched last runs offline).
Shebang form: `#!/usr/bin/env -S uvlaunch` (or `#!/usr/bin/env uvlaunch`).

\b
Settings (environment variables):
  UVLAUNCH_HOME                where environments live (absolute; see `uvlaunch dir`)
  UVLAUNCH_BIN_DIR             where `install` puts commands (else XDG_BIN_HOME, ~/.local/bin)
  UVLAUNCH_UV                  the uv binary to use (default: the one installed with uvlaunch)
  UVLAUNCH_NO_FAST_PATH=1      always start scripts through `uv run`, as --no-fast-path
  UVLAUNCH_COMPILE_BYTECODE=0  do not byte-compile environments
  UVLAUNCH_BUILD_WAIT          seconds to wait for another machine's build (default 600)
  UVLAUNCH_FETCH_TIMEOUT       seconds a script's URL gets to answer (default 30)

\b
Shell completion (scripts' file names, environments' and commands' names, commands,
options): eval "$(_UVLAUNCH_COMPLETE=bash_source uvlaunch)" in ~/.bashrc (zsh_source
for ~/.zshrc; fish: _UVLAUNCH_COMPLETE=fish_source uvlaunch | source).
"""


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    subcommand_metavar="SCRIPT [ARGS]... | COMMAND [ARGS]...",
    epilog=EPILOG,
    no_args_is_help=False,  # bare `uvlaunch`: the short usage and a pointer, as any usage error
)
@click.version_option(
    __version__,
    "-V",
    "--version",
    prog_name="uvlaunch",
    message=f"%(prog)s %(version)s ({launcher.kind()} launcher)",
)
@click.option("-q", "--quiet", count=True, help="Launch option: pass --quiet on to uv.")
@click.option("-v", "--verbose", count=True, help="Launch option: show uv's whole report.")
@click.option("--no-fast-path", is_flag=True, help="Launch option: start through `uv run`.")
def cli(quiet: int, verbose: int, no_fast_path: bool) -> None:
    """Run PEP 723 scripts, each in one stable environment outside uv's cache."""


@cli.command(context_settings=LAUNCH_SETTINGS, short_help="Run SCRIPT in its environment.")
@click.option("-q", "--quiet", count=True, help="Pass --quiet on to uv.")
@click.option("-v", "--verbose", count=True, help="Show uv's whole report.")
@click.option(
    "--no-fast-path",
    is_flag=True,
    envvar="UVLAUNCH_NO_FAST_PATH",
    help="Always start the script through `uv run`.",
)
# An installed command's own: SCRIPT's path is gone, find where it went (install.follow).
@click.option("--command", "command", hidden=True, metavar="PATH")
@click.argument("script", type=click.Path(dir_okay=True))
@click.argument("args", nargs=-1, type=click.UNPROCESSED, shell_complete=completion.files)
def run(
    quiet: int,
    verbose: int,
    no_fast_path: bool,
    command: str | None,
    script: str,
    args: tuple[str, ...],
) -> None:
    """Run SCRIPT with ARGS in its environment (creating or syncing it first)."""
    if script.startswith("-") and script != "-":
        raise click.UsageError(f"no such option: {script}")
    if command is not None:
        from uvlaunch.manage import install

        script = guard(lambda: install.follow(command, script))
    if not no_fast_path and script != "-":
        from uvlaunch.launching import fastpath

        fastpath.try_exec(script, list(args))
    from uvlaunch.launching.slowpath import launch_script

    # After `run`, SCRIPT is a file whatever its name: no "did you mean" a command.
    code = launch_script(
        script, list(args), quiet=quiet, verbose=verbose, fast=not no_fast_path, suggest=False
    )
    sys.exit(code)


@cli.command(short_help="Print the environment a script uses.")
@click.option("--python", "show_python", is_flag=True, help="Print the interpreter instead.")
@click.option("--json", "as_json", is_flag=True, help="Print environment, python, script, exists.")
@click.argument("script", metavar="SCRIPT|NAME", shell_complete=completion.targets)
def where(show_python: bool, as_json: bool, script: str) -> None:
    """Print the environment directory SCRIPT uses (creates nothing)."""
    from uvlaunch.manage import where as where_mod

    if show_python and as_json:
        raise click.UsageError("--python and --json cannot be used together (--json has both)")
    found = guard(lambda: where_mod.where(script), as_json=as_json)
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
    else:
        # --json escapes control characters as JSON does: the exact path, read by a program.
        said = found.python if show_python else found.environment
        say_path(said, instead="`uvlaunch where --json` gives it exactly, JSON-escaped")


@cli.command(short_help="Create or update environments without running.")
@click.option("-q", "--quiet", count=True, help="Pass --quiet on to uv.")
@click.option("-v", "--verbose", count=True, help="Show uv's whole report.")
@click.argument("scripts", nargs=-1, required=True, type=click.Path(dir_okay=True))
def sync(quiet: int, verbose: int, scripts: tuple[str, ...]) -> None:
    """Create or update the environments of SCRIPTS without starting them.

    A script that fails is reported and the others are still synced; the exit status
    is then 2.
    """
    from uvlaunch.building import compiling

    failed = False
    for script in scripts:
        try:
            prepared = launch.prepare(
                script, quiet=quiet, verbose=verbose, notify=notify, launching=False
            )
        except UvlaunchError as e:
            say(f"uvlaunch: error: {e}", err=True)
            failed = True
            continue
        # Provisioning: leave the environment compiled, as a launch's background would
        # (holding its generation, so that gc cannot delete it meanwhile).
        compiling.compile_now(prepared.root, prepared.env, notify)
        prepared.release()
        say(f"{script}: {prepared.env}")
    if failed:
        sys.exit(2)


@cli.command(
    "exec", context_settings=LAUNCH_SETTINGS, short_help="Run a command in a script's environment."
)
@click.argument("script", metavar="SCRIPT|NAME", shell_complete=completion.targets)
@click.argument(
    "command", nargs=-1, required=True, type=click.UNPROCESSED, shell_complete=completion.files
)
def exec_(script: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside SCRIPT's environment, with uvlaunch's uv on PATH.

    \b
    uvlaunch exec s.py -- python          a REPL with the script's packages
    uvlaunch exec s.py -- uv pip list     the packages (or: uvlaunch show s.py)
    """
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise click.UsageError("give a command after --, for example `-- python`")
    from uvlaunch.manage.targets import script_for

    script = guard(lambda: script_for(script))
    prepared = guard(lambda: launch.prepare(script, notify=notify, read_only=True))
    from uvlaunch.manage import sharing

    if not prepared.read_only and sharing.shared_with(prepared.env):
        # The command may write into it: never into what other copies use.
        notify(f"{script}: its packages are shared with other copies; a private generation first")
        prepared.use.release()
        guard(lambda: sharing.make_private(script))
        prepared = guard(lambda: launch.prepare(script, notify=notify, read_only=True))
    if not prepared.read_only:
        sharing.before_exec(prepared.env)
    guard(lambda: launch.exec_in(prepared, argv))  # CommandError: 127 or 126, as shells


for _command in [*cli_inspect.COMMANDS, *cli_manage.COMMANDS, *cli_install.COMMANDS]:
    cli.add_command(_command)


def main(args: list[str]) -> int:
    """Run the click group on ``args``; returns its exit status.

    A usage error ends in one line, as every error of uvlaunch's own does, after the
    command's short usage and a pointer to its help.
    """
    _printable_paths()
    completion.install()
    try:
        result = cli.main(args=args, prog_name="uvlaunch", standalone_mode=False)
    except click.UsageError as e:
        return _usage_error(e, args)
    except click.ClickException as e:
        say(f"uvlaunch: error: {e.format_message()}", err=True)
        return e.exit_code
    except click.Abort:
        click.echo("uvlaunch: aborted", err=True)
        return 130
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except OSError as e:  # the last resort: see output.guard
        try:
            fail(unexpected(e))
        except SystemExit as done:
            return int(done.code or 0)
    return result if isinstance(result, int) else 0


def _usage_error(error: click.UsageError, args: list[str]) -> int:
    """A usage error as click shows one (the short usage, a pointer to the command's
    help), but ending in uvlaunch's own error line; as JSON too under ``--json``."""
    ctx = error.ctx
    message = error.format_message().rstrip(".")
    if message == "Missing command":
        message = "give a script to run, or a command"
    message = message[:1].lower() + message[1:]
    if ctx is not None:
        click.echo(ctx.get_usage(), err=True)
        click.echo(f"Try '{ctx.command_path} --help' for help.\n", err=True)
        options = args[: args.index("--")] if "--" in args else args
        if "--json" in options and any(p.name == "as_json" for p in ctx.command.params):
            click.echo(json.dumps({"error": message}, indent=2))
    say(f"uvlaunch: error: {message}", err=True)
    return 2


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
