"""Shell completion: click's, taught uvlaunch's first word and its names.

click completes a group's first word with subcommand names only; uvlaunch's first word
is as often a script (main.py decides which, before click), so it gets file names
there too, file names only after ``--`` and after a script, and the names of
environments and installed commands wherever a command takes them (targets.py).
bash's script is click's, except that file names are added to the words rather than
replacing them, and bash's own file completion is the fallback, as without uvlaunch's.
"""

from __future__ import annotations

import os
from typing import Any

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    FishComplete,
    ShellComplete,
    ZshComplete,
    add_completion_class,
)

from uvlaunch import contract
from uvlaunch.errors import UvlaunchError

BASH_SOURCE = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response type value

    response=$(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD \
%(complete_var)s=bash_complete $1)
    COMPREPLY=()
    for completion in $response; do
        IFS=',' read -r type value <<< "$completion"
        if [[ $type == 'dir' ]]; then
            compopt -o filenames
            COMPREPLY+=($(compgen -d -- "$value"))
        elif [[ $type == 'file' ]]; then
            compopt -o filenames
            COMPREPLY+=($(compgen -f -- "$value"))
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=("$value")
        fi
    done
    return 0
}

complete -o nosort -o default -F %(complete_func)s %(prog_name)s
"""

LAUNCH_OPTIONS = ("-q", "--quiet", "-v", "--verbose", "--no-fast-path")
SUBCOMMANDS = frozenset(contract.SUBCOMMANDS)


def _file(incomplete: str) -> CompletionItem:
    return CompletionItem(incomplete, type="file")


def _uvlaunch_words(args: list[str], incomplete: str) -> list[CompletionItem] | None:
    """The completions where uvlaunch decides, not click: None elsewhere."""
    i = 0
    while i < len(args) and (args[i] in LAUNCH_OPTIONS or _is_qv(args[i])):
        i += 1
    rest = args[i:]
    if rest and rest[0] == "--":
        return [_file(incomplete)]  # the script, or its own arguments
    if not rest:
        if incomplete.startswith("-"):
            return None  # the group's options
        names = [s for s in contract.SUBCOMMANDS if s.startswith(incomplete)]
        return [_file(incomplete), *(CompletionItem(n) for n in names)]
    first = rest[0]
    if first == "-" or os.sep in first or not (first.startswith("-") or first in SUBCOMMANDS):
        return [_file(incomplete)]  # the script's own arguments (main.is_script_word)
    return None


def _is_qv(word: str) -> bool:
    return len(word) > 2 and word[0] == "-" and set(word[1:]) <= {"q", "v"}


class _Uvlaunch(ShellComplete):
    def get_completions(self, args: list[str], incomplete: str) -> list[CompletionItem]:
        found = _uvlaunch_words(args, incomplete)
        return super().get_completions(args, incomplete) if found is None else found


class Bash(_Uvlaunch, BashComplete):
    source_template = BASH_SOURCE


class Zsh(_Uvlaunch, ZshComplete):
    pass


class Fish(_Uvlaunch, FishComplete):
    pass


def install() -> None:
    """Make uvlaunch's classes the ones click uses for bash, zsh and fish."""
    for cls in (Bash, Zsh, Fish):
        add_completion_class(cls)


# -- what an argument completes to ---------------------------------------------------


def files(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """File names (for arguments click would complete with nothing, e.g. ``exec``'s)."""
    return [_file(incomplete)]


def targets(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """A script, an environment's name or an installed command's name (targets.py)."""
    return [*_names(incomplete, environments=True), _file(incomplete)]


def commands(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """An installed command's name, or a script (``uninstall``)."""
    return [*_names(incomplete, environments=False), _file(incomplete)]


def _names(incomplete: str, *, environments: bool) -> list[CompletionItem]:
    """The names starting with ``incomplete``; none where the home cannot be read."""
    if os.sep in incomplete:
        return []
    from uvlaunch.home import store
    from uvlaunch.manage import registry
    from uvlaunch.manage.inventory import all_names

    try:
        root = store.open_home(create=False)
        found = {os.path.basename(e.path): "command" for e in registry.entries(root)}
        if environments:
            found.update((n, "environment") for n in all_names(root) if n not in found)
    except (UvlaunchError, OSError):
        return []
    return [CompletionItem(n, help=h) for n, h in sorted(found.items()) if n.startswith(incomplete)]
