"""The ``uvlaunch`` entry point: try the warm fast path before loading anything else.

``uvlaunch SCRIPT [ARGS...]`` is the shebang form. The first word that is not one of
the launch options (-q, -v, --no-fast-path) is the script when it contains a path
separator, is ``-`` (standard input), follows ``--``, or is not a subcommand name;
everything after it belongs to the script.
"""

from __future__ import annotations

import os

from uvlaunch import contract

SUBCOMMANDS = frozenset(contract.SUBCOMMANDS)


def main(argv: list[str] | None = None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else list(argv)
    open_std_fds()
    quiet = verbose = 0
    fast = True
    forced = False
    i = 0
    while i < len(args):
        word = args[i]
        if word in ("-q", "--quiet"):
            quiet += 1
        elif word in ("-v", "--verbose"):
            verbose += 1
        elif len(word) > 2 and word[0] == "-" and set(word[1:]) <= {"q", "v"}:
            quiet += word.count("q")
            verbose += word.count("v")
        elif word == "--no-fast-path":
            fast = False
        elif word == "--":
            forced = True  # what follows is the script, whatever its name
            i += 1
            break
        else:
            break
        i += 1
    if i < len(args) and (forced or is_script_word(args[i])):
        invoked, script_args = args[i], args[i + 1 :]
        from uvlaunch import fastpath

        fast = fast and not fastpath.disabled()  # the setting is exactly --no-fast-path
        if fast and invoked != "-":
            fastpath.try_exec(invoked, script_args)  # returns only if not warm
        return launch_script(
            invoked, script_args, quiet=quiet, verbose=verbose, fast=fast, suggest=not forced
        )
    from uvlaunch import cli

    return cli.main(args)


def launch_script(
    invoked: str, args: list[str], *, quiet: int, verbose: int, fast: bool, suggest: bool = True
) -> int:
    """Launch a script the fast path did not take (the shebang form and ``run``).

    ``suggest``: a missing file whose name is close to a command's may have been meant
    as that command (not after ``--`` or ``run``, where the word is a file whatever it is).

    Errors become one line on stderr and status 2, as in cli.py, but without click: a
    first launch, a sync or a launch after an editor's atomic save comes through here,
    and importing click would add ~8 ms to each (docs/performance.md).
    Returns only on error.
    """
    import sys

    from uvlaunch import launch
    from uvlaunch.errors import UvlaunchError

    def notify(message: str) -> None:
        try:
            sys.stderr.write(f"uvlaunch: {message}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # stderr closed: the message is lost, the launch goes on

    run_path = None
    try:
        from uvlaunch import piped

        if invoked == "-" or piped.is_piped(invoked):
            invoked, run_path = piped.materialize(invoked)
        for _ in range(RETARGETS):
            prepared = launch.prepare(invoked, quiet=quiet, verbose=verbose, notify=notify)
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
    except KeyboardInterrupt:
        # Ctrl-C while uv works: uv stopped too, and what it left was taken out of use.
        _discard(run_path)
        return 130


RETARGETS = 3  # starts over after a symlink flip, before giving up


def open_std_fds() -> None:
    """Put /dev/null on standard descriptors that are closed (``2>&-``).

    Else the next file opened takes the closed number: a lock file would become the
    script's stdout, or uv's relayed output would go into it. uv (like every Rust
    program) does the same for itself.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)


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


def is_script_word(word: str) -> bool:
    """Whether a leading word names a script rather than a subcommand or option.

    A subcommand's name is the subcommand, unless the current directory holds an
    executable uvlaunch script of that name: a program that runs a script through
    ``execvp`` and an empty ``PATH`` entry makes the kernel pass its bare name (``gc``),
    and uvlaunch must then run that script, not its own ``gc``.
    """
    if word == "-":
        return True
    if word.startswith("-"):
        return False
    if os.sep in word or (os.altsep and os.altsep in word):
        return True
    # `run` stays `run` (its next word is a script either way: nothing is lost).
    return word not in SUBCOMMANDS or (word != "run" and _uvlaunch_script_here(word))


def _uvlaunch_script_here(word: str) -> bool:
    try:
        if not os.access(word, os.X_OK) or not os.path.isfile(word):
            return False
        with open(word, "rb") as f:
            first = f.readline(512)
    except OSError:
        return False
    return first.startswith(b"#!") and b"uvlaunch" in first
