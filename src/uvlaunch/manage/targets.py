"""What a word given to a command names: a script, an environment, or an installed command.

``show``, ``where``, ``upgrade``, ``reinstall``, ``rollback``, ``remove`` and ``exec``
all take their targets through ``resolve``, by one rule (docs/commands.md, "Scripts,
names and commands"):

1. a word that looks like a path (it holds a ``/`` or ends in ``.py``), or that names
   an existing file, is a script; an existing file that is a command ``uvlaunch
   install`` made stands for the script it runs;
2. else a word that is an environment's name is that environment;
3. else a word that is an installed command's name is that command's environment.

A word that is both an environment's name and the name of a command of another
environment is refused, naming both: give the script's (or the command's) path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from uvlaunch.errors import UnknownEnvironmentError, UvlaunchError
from uvlaunch.home import index, lookup, records, store
from uvlaunch.home.env import Env
from uvlaunch.home.names import is_safe_name
from uvlaunch.manage import installed, registry
from uvlaunch.manage.installed import Command
from uvlaunch.manage.inventory import all_names, inspect
from uvlaunch.scripts import identity

SCRIPT = "script"
ENVIRONMENT = "environment"
COMMAND = "command"


@dataclass(frozen=True)
class Target:
    """What a word names: ``name`` is its environment (None: a script with none yet)."""

    word: str
    kind: str  # SCRIPT, ENVIRONMENT or COMMAND
    name: str | None
    script: str | None  # the script's path: as given, or as recorded (None: piped)


def is_path_like(word: str) -> bool:
    """Whether ``word`` can only be a script's path (rule 1, before any file is looked at)."""
    return os.sep in word or word.endswith(".py") or word in (".", "..", "-")


def choose(word: str, *, env_names: Iterable[str], commands: dict[str, set[str]]) -> str:
    """Rules 2 and 3 for a word that is no file: the environment's name it means.

    ``commands``: the environments of each installed command's name. Raises
    UnknownEnvironmentError when it means none, UvlaunchError when it means two.
    """
    is_env = is_safe_name(word) and word in set(env_names)
    owners = commands.get(word, set())
    if is_env and owners - {word}:
        other = min(owners - {word})
        raise UvlaunchError(
            f"{word}: is both an environment's name and the name of a command of the "
            f"environment {other}; give the script's path (or the command's) to choose"
        )
    if is_env:
        return word
    if len(owners) == 1:
        return next(iter(owners))
    if owners:
        raise UvlaunchError(
            f"{word}: commands of this name run the environments {', '.join(sorted(owners))}; "
            "give the command's path to choose"
        )
    raise UnknownEnvironmentError(
        f"{word}: no managed environment or installed command has this name, "
        "and no script has this path"
    )


def resolve(root: str, word: str) -> Target:
    """What ``word`` names (the rule above); raises UnknownEnvironmentError for nothing."""
    if is_path_like(word) or os.path.lexists(word):
        entry = registry.find(root, word) if os.path.isfile(word) else None
        if entry is not None and installed.is_ours(entry.path):
            return Target(word, COMMAND, entry.env, _script_of(Env(root, entry.env)))
        return Target(word, SCRIPT, _script_env(root, word), word)
    found = registry.entries(root)
    name = choose(word, env_names=all_names(root), commands=_by_name(found))
    kind = ENVIRONMENT if name == word else COMMAND
    return Target(word, kind, name, _script_of(Env(root, name)))


def resolve_targets(words: Iterable[str]) -> list[str]:
    """Environment names for ``words``, each once; raises on the first that names none."""
    root = store.open_home(create=False)
    names: list[str] = []
    for word in words:
        name = resolve(root, word).name
        if name is None and not is_path_like(word):  # a bare name, and a file of it here
            raise UnknownEnvironmentError(
                f"{word}: this file here has no managed environment (a file comes first; "
                "for an environment or command of this name, run from another directory)"
            )
        if name is None:
            raise UnknownEnvironmentError(f"{word}: no managed environment belongs to this script")
        if name not in names:
            names.append(name)
    return names


def script_for(word: str) -> str:
    """The script ``where`` and ``exec`` work on: ``word`` itself when it is a script's
    path, else the script of the environment it names (which must still be there)."""
    if is_path_like(word) or os.path.lexists(word):
        root = store.open_home(create=False)
        target = resolve(root, word) if os.path.isfile(word) else None
        return word if target is None or target.kind == SCRIPT else _live(target)
    return _live(resolve(store.open_home(create=False), word))


def _live(target: Target) -> str:
    if target.script is None:
        raise UvlaunchError(
            f"{target.word}: the environment {target.name} belongs to a piped script, "
            "which has no file to run"
        )
    if not os.path.isfile(target.script):
        raise UvlaunchError(
            f"{target.word}: the script of the environment {target.name} is gone: {target.script}"
        )
    return target.script


def _by_name(found: list[Command]) -> dict[str, set[str]]:
    # A command's name is its file's; one that is no longer uvlaunch's does not count.
    out: dict[str, set[str]] = {}
    for entry in found:
        if installed.is_ours(entry.path):
            out.setdefault(os.path.basename(entry.path), set()).add(entry.env)
    return out


def _script_of(env: Env) -> str | None:
    return inspect(env).script


def _script_env(root: str, target: str) -> str | None:
    """The environment of the script at ``target``, which may be gone."""
    try:
        ident = identity.resolve(target)
    except UvlaunchError:
        ident = None
    if ident is not None:
        rec, _ = lookup.lookup(root, ident)
        if rec is not None:
            return rec.name
    # A deleted script: look its path up in the index, then in the records.
    real = os.path.realpath(target)
    indexed = index.read_index(index.path_key_path(root, real))
    if indexed is not None:
        rec = records.read_record(root, indexed)
        if rec is not None and rec.script == real:
            return indexed
    for name in all_names(root):
        if inspect(Env(root, name)).script == real:
            return name
    return None
