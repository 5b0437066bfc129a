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
    from uvlaunch.home import trust

    trust.private_umask()  # what uvlaunch makes is private; the script gets the user's back
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
        from uvlaunch.launching import fastpath

        fast = fast and not fastpath.disabled()  # the setting is exactly --no-fast-path
        if fast and invoked != "-" and not invoked.lower().startswith(("http://", "https://")):
            fastpath.try_exec(invoked, script_args)  # returns only if not warm
        from uvlaunch.launching.slowpath import launch_script

        return launch_script(
            invoked, script_args, quiet=quiet, verbose=verbose, fast=fast, suggest=not forced
        )
    from uvlaunch.cli import app as cli

    return cli.main(args)


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


def is_script_word(word: str) -> bool:
    """Whether a leading word names a script rather than a subcommand or option.

    A subcommand's name is the subcommand, unless the current directory holds an
    executable uvlaunch script of that name: a program that runs a script through
    ``execvp`` and an empty ``PATH`` entry makes the kernel pass its bare name (``gc``),
    and uvlaunch must then run that script, not its own ``gc``. Only the user's own
    file, in a directory no other user can change (way.own_file_here): in ``/tmp``,
    another user's ``list`` must never run as root's ``uvlaunch list``.
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
    from uvlaunch.home import way

    if not way.own_file_here(word):
        return False
    try:
        if not os.access(word, os.X_OK) or not os.path.isfile(word):
            return False
        with open(word, "rb") as f:
            first = f.readline(512)
    except OSError:
        return False
    return first.startswith(b"#!") and b"uvlaunch" in first
