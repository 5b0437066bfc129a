"""The slow path of a launch: what the shebang form and ``run`` do when the fast path
cannot start the script (a first launch, a sync, a rebuild, a script from a pipe).

Errors become one line on stderr and status 2, as in the CLI, but without click: a
first launch, a sync or a launch after an editor's atomic save comes through here, and
importing click would add ~8 ms to each (docs/performance.md).
"""

from __future__ import annotations

import os
import sys

from uvlaunch.contract import SUBCOMMANDS
from uvlaunch.errors import UvlaunchError, printable, unexpected
from uvlaunch.launching import launch, piped

RETARGETS = 3  # starts over after a symlink flip, before giving up


def launch_script(
    invoked: str, args: list[str], *, quiet: int, verbose: int, fast: bool, suggest: bool = True
) -> int:
    """Launch a script the fast path did not take (the shebang form and ``run``).

    ``suggest``: a missing file whose name is close to a command's may have been meant
    as that command (not after ``--`` or ``run``, where the word is a file whatever it is).

    Returns only on error (its exit status).
    """

    def notify(message: str) -> None:
        try:
            sys.stderr.write(f"uvlaunch: {printable(message)}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # stderr closed: the message is lost, the launch goes on

    run_path = None
    try:
        if invoked == "-" or piped.is_piped(invoked):
            invoked, run_path = piped.materialize(invoked)
        elif invoked.lower().startswith(("http://", "https://")):
            from uvlaunch.launching import fetch

            invoked, run_path = fetch.materialize(invoked, notify)
        for _ in range(RETARGETS):
            prepared = launch.prepare(
                invoked, quiet=quiet, verbose=verbose, notify=notify, read_only=True
            )
            try:
                launch.start(
                    prepared,
                    args,
                    through_uv=not fast,
                    quiet=quiet,
                    verbose=verbose,
                    run_path=run_path,
                )
            except launch.Retargeted:
                # A symlink on the way now leads elsewhere: start over with what it names.
                prepared.release()
        raise UvlaunchError(f"{invoked}: kept leading to other files while being launched")
    except UvlaunchError as e:
        notify(f"error: {_with_suggestion(invoked, e) if suggest else e}")
        _discard(run_path)
        return 2
    except OSError as e:  # the last resort, as in the CLI (cli/output.guard)
        notify(f"error: {unexpected(e)}")
        _discard(run_path)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C while uv works: uv stopped too, and what it left was taken out of use.
        _discard(run_path)
        return 130


def _discard(path: str | None) -> None:
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass


def _with_suggestion(invoked: str, error: Exception) -> str:
    """The error, with the commands a mistyped bare word may have meant."""
    message = str(error)
    if message != f"{invoked}: no such file" or os.sep in invoked or invoked.startswith("."):
        return message
    import difflib

    close = difflib.get_close_matches(invoked, sorted(SUBCOMMANDS), n=2, cutoff=0.6)
    if not close:
        return f"{invoked}: no such file, and no command of that name; see `uvlaunch --help`"
    meant = " or ".join(f"'{c}'" for c in close)
    return f"{invoked}: no such file or command; did you mean {meant}?"
