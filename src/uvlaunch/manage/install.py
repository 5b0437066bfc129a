"""``uvlaunch install`` and ``uninstall``: a script as a command on PATH.

install builds the script's environment first, as ``sync`` does, so that the command
runs offline from its first use, then writes the command file (installed.py) into the
bin directory: ``UVLAUNCH_BIN_DIR``, else ``XDG_BIN_HOME``, else ``~/.local/bin``, the
order ``uv tool`` uses. The command runs the script where it is, so an edit takes effect
on the next run; when the script's path is gone, ``follow`` finds where it went the way
a launch does (its environment's record, which a launch at the new path updated; or a
rename within its directory, by inode) and rewrites the command.

Where uv and pipx leave questions open: a name must be one safe file name (letters,
digits, ``.``, ``_``, ``-``; not starting with ``.`` or ``-``), and never ``uvlaunch`` or
``uvlaunch-py``; subcommand names are fine (the command runs uvlaunch with an absolute
script path, which is never taken for a subcommand). Windows is refused for now: its
commands would need ``.exe`` launchers, as uv and pipx ship.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

from uvlaunch.building import compiling
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import lookup, paths, records, samefile, store, way
from uvlaunch.home.env import Env
from uvlaunch.launching import fetch, launch
from uvlaunch.manage import installed as commands
from uvlaunch.manage import registry, where
from uvlaunch.manage.installed import Command
from uvlaunch.scripts import identity

INSTALLED = "installed"
UPDATED = "updated"
UNCHANGED = "unchanged"
RESERVED = ("uvlaunch", "uvlaunch-py")
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True)
class Installed:
    """What ``install`` did, and whether the shell will find the command."""

    name: str
    path: str
    script: str
    status: str  # INSTALLED, UPDATED or UNCHANGED
    bin_dir: str
    on_path: bool
    shadowed_by: str | None  # another command of the name that comes first on PATH


def bin_dir() -> str:
    """Where commands go: UVLAUNCH_BIN_DIR, else XDG_BIN_HOME, else ~/.local/bin."""
    override = paths.absolute_setting("UVLAUNCH_BIN_DIR")
    if override is not None:
        return override
    xdg = os.environ.get("XDG_BIN_HOME", "")
    if os.path.isabs(xdg):  # a relative one is ignored, as uv ignores it
        return os.path.normpath(xdg)
    home = os.path.expanduser("~")
    if not os.path.isabs(home):
        raise UvlaunchError("HOME is not set: set UVLAUNCH_BIN_DIR to where commands should go")
    return os.path.join(home, ".local", "bin")


def check_name(name: str) -> None:
    """Refuse a command name that is not one safe file name, or that would hide uvlaunch."""
    if not name or len(name) > 255 or name[0] in ".-" or not set(name) <= NAME_CHARS:
        raise UvlaunchError(
            f"{name!r}: not a command name uvlaunch installs; choose one with --name "
            "(letters, digits, '.', '_' and '-', not starting with '.' or '-')"
        )
    if name in RESERVED:
        raise UvlaunchError(f"{name}: a command of this name would hide uvlaunch; choose another")


def default_name(script: str) -> str:
    """The script's file name without ``.py``."""
    base = os.path.basename(script)
    return base[:-3] if base.endswith(".py") and len(base) > 3 else base


def uvlaunch_command() -> str:
    """The ``uvlaunch`` command the installed command runs: the one running now."""
    for directory in (
        os.path.dirname(os.path.abspath(sys.argv[0])),
        os.path.dirname(sys.executable),
    ):
        candidate = os.path.join(directory, "uvlaunch")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("uvlaunch")
    if found is None:
        raise UvlaunchError("cannot find the uvlaunch command that the new command would run")
    return os.path.abspath(found)


def install(
    script: str,
    *,
    name: str | None = None,
    force: bool = False,
    quiet: int = 0,
    verbose: int = 0,
    notify: Callable[[str], None],
) -> Installed:
    """Build the environment of ``script`` and put a command for it into the bin directory."""
    if sys.platform == "win32":
        raise UvlaunchError(
            f"{script}: uvlaunch cannot install commands on Windows yet; run `uvlaunch {script}`"
        )
    if fetch.is_url(script):
        # A command runs a file where it is, edits included; a URL's script would change
        # under it with no one looking. Saved first, it is a file like any other.
        raise UvlaunchError(
            f"{script}: install takes a file, not a URL; save it first "
            f"(curl -fsSLo tool.py {script}), read it, then `uvlaunch install tool.py`"
        )
    ident = identity.resolve(script)
    name = name if name is not None else default_name(script)
    check_name(name)
    directory = bin_dir()
    _check_dir(directory)
    path = os.path.join(directory, name)
    uvlaunch = uvlaunch_command()
    if os.path.realpath(path) == os.path.realpath(uvlaunch):
        raise UvlaunchError(f"{path}: is uvlaunch itself; choose another name with --name")
    if os.path.realpath(path) == ident.path:  # even with --force: it would be lost
        raise UvlaunchError(f"{path}: is the script itself; choose another name with --name")
    if os.path.isdir(path) and not os.path.islink(path):
        raise UvlaunchError(f"{path}: is a directory; choose another name with --name")
    data = commands.text(uvlaunch, ident.path, name)
    # Everything that can refuse is checked before uv is asked to build anything.
    root = store.open_home()
    _status(root, path, data, where.where(script).name, ident.path, force)
    _make_dir(directory)
    staged = commands.stage(path, data)
    try:
        # The environment before the command: a script uv cannot resolve gets none.
        prepared = launch.prepare(script, quiet=quiet, verbose=verbose, notify=notify)
        try:
            # Compiled as `sync` leaves it, holding the generation so gc cannot take it.
            # Said only with -v: install, like `uv tool install`, says what it installed.
            compiling.compile_now(root, prepared.env, notify if verbose else _silent)
        finally:
            prepared.release()
        lookup.note_birth(Env(root, prepared.name))  # what tells its script from a new file
        with registry.lock(root):
            # Again: another install may have written the file meanwhile.
            status = _status(root, path, data, prepared.name, ident.path, force)
            old = registry.find(root, path)
            registry.write_entry(root, Command(path, ident.path, prepared.name))
            if status != UNCHANGED:
                try:
                    commands.place(staged, path)
                except BaseException:
                    _restore_entry(root, path, old)
                    raise
    finally:
        commands.unstage(staged)
    return Installed(
        name=name,
        path=path,
        script=ident.path,
        status=status,
        bin_dir=directory,
        on_path=on_path(directory),
        shadowed_by=_shadowed_by(name, path),
    )


def _status(root: str, path: str, data: bytes, env: str, script: str, force: bool) -> str:
    """What writing ``data`` at ``path`` would do; raises where it must not be done."""
    existing = commands.read_file(path)
    if not os.path.lexists(path):
        return INSTALLED
    if not commands.is_ours(path):
        if not force:
            raise UvlaunchError(
                f"{path}: exists and uvlaunch did not make it; use --force to replace it"
            )
        return INSTALLED
    if existing == data:
        return UNCHANGED
    entry = registry.find(root, path)
    runs = commands.script_of(existing or b"")
    if (entry is not None and entry.env == env) or runs == script or force:
        return UPDATED
    raise UvlaunchError(
        f"{path}: already runs {runs or 'another script'}; use --force to replace it"
    )


def _restore_entry(root: str, path: str, old: Command | None) -> None:
    try:
        if old is None:
            registry.drop_entry(root, path)
        else:
            registry.write_entry(root, old)
    except UvlaunchError:
        pass  # the entry names a command file that is not there: nothing acts on it


def _check_dir(directory: str) -> None:
    """Refuse a bin directory another user could change, or reach through (way.walk)."""
    found = way.walk(directory)
    if found is None:
        return
    kept = way.kept_home(found[0], "UVLAUNCH_BIN_DIR")
    if kept is not None:
        raise UvlaunchError(f"{directory}: refusing to put commands {kept}")
    raise UvlaunchError(f"{directory}: refusing to put commands there: {found[1]}")


def _make_dir(directory: str) -> None:
    # The shell of every user runs what is in it: 0755 and its parents too, whatever the
    # umask (0777 under `umask 000` otherwise); checked again once made.
    try:
        way.make_dirs(directory, 0o755)
    except OSError as e:
        raise UvlaunchError(
            f"{directory}: cannot create the directory for commands: {e.strerror}"
        ) from None
    if not os.path.isdir(directory):
        raise UvlaunchError(f"{directory}: is not a directory; set UVLAUNCH_BIN_DIR to one")
    _check_dir(directory)


def on_path(directory: str) -> bool:
    """Whether ``directory`` is on PATH, so that the shell finds the command by its name."""
    real = os.path.realpath(directory)
    entries = os.environ.get("PATH", "").split(os.pathsep)
    return any(e and os.path.isabs(e) and os.path.realpath(e) == real for e in entries)


def _shadowed_by(name: str, path: str) -> str | None:
    found = shutil.which(name)
    if found is None or os.path.realpath(found) == os.path.realpath(path):
        return None
    return found


def follow(command: str, script: str) -> str:
    """The script the command at ``command`` runs, ``script`` or where it went; rewrites it.

    Raises UvlaunchError (one line) when the script is gone and nothing says where.
    """
    if os.path.exists(script):
        return script
    root = store.open_home(create=False)
    entry = registry.find(root, command) if os.path.isdir(root) else None
    moved = _moved_to(root, entry, script) if entry is not None else None
    if entry is None or moved is None:
        name = os.path.basename(command)
        raise UvlaunchError(
            f"{command}: its script {script} is gone; if it moved, run "
            f"`uvlaunch install NEWPATH --name {name}`, else `uvlaunch uninstall {name}`"
        )
    store.open_home(create=True)
    with registry.lock(root):
        existing = commands.read_file(entry.path)
        uvlaunch = commands.uvlaunch_of(existing or b"")
        if commands.is_ours(entry.path) and uvlaunch is not None:
            name = os.path.basename(entry.path)
            commands.write_file(entry.path, commands.text(uvlaunch, moved, name))
            registry.write_entry(root, Command(entry.path, moved, entry.env))
    return moved


def _moved_to(root: str, entry: Command, script: str) -> str | None:
    rec = records.read_record(root, entry.env)
    if rec is None:
        return None
    if rec.script != script and os.path.isfile(rec.script):
        return rec.script  # a launch at the new path updated the record
    # Not launched since: a rename within its directory keeps the inode. A new file that
    # was given the freed inode (ext4 does at once) is not the script (samefile.py).
    directory = os.path.dirname(script)
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    for name in names:
        candidate = os.path.join(directory, name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) != (rec.dev, rec.ino) or not os.path.isfile(candidate):
            continue
        try:
            found = identity.resolve(candidate)
        except UvlaunchError:
            continue
        if samefile.is_recorded_file(root, rec, found.uid, found.born(), found.block):
            return found.path
    return None


def _silent(_message: str) -> None:
    pass
