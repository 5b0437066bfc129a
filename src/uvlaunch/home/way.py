"""The way to a path, walked as ssh walks it, and directories made on it.

Where uvlaunch creates or writes outside its home (the home's own parents, ``install``'s
bin directory), and for a bare word run as a script, the way there is walked as ssh
walks it (``walk_problem``): every directory from ``/`` down owned by root or the user,
and not writable by others unless sticky (as ``/tmp``); every symlink on the way owned
by root or the user, and what it names walked in turn. A directory that passes cannot
be swapped by another user between the check and the write, so no descriptor games are
needed after it.

Imported on the warm path: ``os`` and ``stat`` only.
"""

from __future__ import annotations

import os
import stat as stat_mod
import sys

POSIX = sys.platform != "win32"


def walk_problem(path: str) -> str | None:
    """Why another user could change what is at the absolute ``path``, or None (ssh's rule,
    in the module docstring). Stops, content, at the first component that is missing."""
    found = walk(path)
    return None if found is None else found[1]


def walk(path: str) -> tuple[str, str] | None:
    """``walk_problem``, with the path that breaks the rule: (that path, why)."""
    if not POSIX:
        return None
    uid = os.geteuid()
    pending = path.split("/")
    done = "/"
    links = 0
    problem = _dir_rule("/", uid)
    while problem is None and pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            done = os.path.dirname(done)
            continue
        here = os.path.join(done, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            return None  # whoever needs it creates it, below what was checked
        except OSError as e:
            return here, f"{here}: cannot be checked: {e.strerror}"
        if stat_mod.S_ISLNK(st.st_mode):
            links += 1
            if st.st_uid not in (0, uid):
                return (
                    here,
                    f"{here}: is a symlink owned by uid {st.st_uid}, not by you or root; "
                    "refusing to follow it",
                )
            if links > 40:
                return here, f"{here}: too many levels of symlinks"
            target = os.readlink(here)
            if target.startswith("/"):
                done = "/"
            pending = target.split("/") + pending
            continue
        if not stat_mod.S_ISDIR(st.st_mode):
            return None  # nothing is made under a file: whoever tries fails, and says so
        problem = _dir_rule(here, uid, st)
        done = here
    return problem


def _dir_rule(path: str, uid: int, st: os.stat_result | None = None) -> tuple[str, str] | None:
    try:
        st = st or os.stat(path)
    except OSError as e:
        return path, f"{path}: cannot be checked: {e.strerror}"
    if st.st_uid not in (0, uid):
        return path, (
            f"{path}: is owned by uid {st.st_uid}, not by you or root; refusing to act where "
            "another user can swap what uvlaunch writes or runs"
        )
    if st.st_mode & (stat_mod.S_IWGRP | stat_mod.S_IWOTH) and not st.st_mode & stat_mod.S_ISVTX:
        mode = stat_mod.S_IMODE(st.st_mode)
        return path, f"{path}: is writable by others (mode {mode:o}); run `chmod go-w {path}`"
    return None


def make_dirs(path: str, mode: int, parents: int = 0o755) -> None:
    """Create the directory ``path`` (``mode``) and its missing parents (``parents``), with
    exactly these modes whatever the umask; OSError if it cannot. Walk it first."""
    parent = os.path.dirname(path)
    if parent != path and not os.path.isdir(parent):
        make_dirs(parent, parents, parents)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return
    os.chmod(path, mode)  # mkdir's mode passes through the umask


def own_file_here(name: str) -> bool:
    """Whether ``name`` in the current directory is the user's own file, where no other
    user can change it: a bare word that may name a script (main.is_script_word)."""
    if not POSIX:
        return True
    uid = os.geteuid()
    try:
        if _dir_rule(".", uid) is not None:
            return False
        where = "."
        st = os.lstat(name)
        if stat_mod.S_ISLNK(st.st_mode):
            if st.st_uid != uid:
                return False
            where = os.path.dirname(os.path.realpath(name))
            if walk_problem(where) is not None:
                return False
            st = os.stat(name)
        # In a directory others may write (sticky, as /tmp), a second name of one's own
        # file may be theirs: without fs.protected_hardlinks anyone links anything there.
        if os.stat(where).st_mode & (stat_mod.S_IWGRP | stat_mod.S_IWOTH) and st.st_nlink != 1:
            return False
    except OSError:
        return False
    return (
        stat_mod.S_ISREG(st.st_mode)
        and st.st_uid == uid
        and not st.st_mode & (stat_mod.S_IWGRP | stat_mod.S_IWOTH)
    )


def home_way_problem(root: str) -> str | None:
    """Why the home ``root`` is on a way another user controls (``walk``), naming the
    cause and the fix; None when it is not. The home itself is left to whoever opens it
    (store.check_home_permissions), unless it is a symlink."""
    found = walk(root)
    if found is None:
        return None
    where, problem = found
    if where == root and not os.path.islink(root):
        return None
    kept = kept_home(where, "UVLAUNCH_HOME")
    if kept is not None:
        return f"{root}: uvlaunch's home would be {kept}"
    return problem if where == root else f"{root}: uvlaunch's home is refused: {problem}"


def kept_home(where: str, setting: str) -> str | None:
    """When ``where`` (which failed the walk) is in another user's HOME that this process
    was given (``sudo -E``): the cause and the fix, ``setting`` being the variable that
    would choose another place; else None."""
    home = os.environ.get("HOME", "")
    if os.environ.get(setting) or not os.path.isabs(home):
        return None
    if where != home and not where.startswith(home.rstrip("/") + "/"):
        return None
    try:
        owner = os.lstat(where).st_uid
    except OSError:
        return None
    if owner == os.geteuid():
        return None
    return (
        f"in HOME={home}, where {where} belongs to uid {owner}: another user's HOME, kept "
        f"(as `sudo -E` keeps it); run `sudo -H uvlaunch ...`, or set {setting} to a "
        "directory of your own"
    )


def chown(path: str) -> str:
    """The command that gives ``path`` back to the user running uvlaunch."""
    uid = os.geteuid()
    try:
        import pwd

        user = pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        user = str(uid)
    return f"{'' if uid == 0 else 'sudo '}chown -R {user} {path}"
