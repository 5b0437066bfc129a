"""A new generation beside the current one: a fresh ``uv venv``, then its packages.

An upgrade or a reinstall starts from an empty generation with today's versions pinned
(``prepare``), so that the sync that follows keeps them where the block allows. A block
edit starts from a clone of the current generation, by hard links: most of what it
needs is there already, the current generation's packages and their ``.pyc`` files.
``uv venv`` makes the new generation's skeleton (its interpreter links, pyvenv.cfg and
activation scripts, all naming the new path), then every file of the current
generation's trees is hard-linked in, each directory made anew; the one ``uv sync``
that follows changes only what the edit changes, as the in-place sync did, and keeps
the installed versions of the packages it leaves alone (uv prefers what is installed).

The two generations share inodes, so nothing may write into one in place:
- a file that names the current generation's path (an entry point's shebang, in
  ``bin/``) is written anew with the new path, never linked;
- uv, in hard-link mode, only ever unlinks files and creates new ones, renaming over a
  file that is in its way; its copy modes (``copy``, and ``clone``'s fallback) would
  ``fs::copy`` onto an existing file, writing through into the current generation:
  with any link mode but ``hardlink`` an edit is not cloned (``clonable``);
- the byte-compiler and Python write every ``.pyc`` by rename;
- uvlaunch's own files in the generation (its stamp, use lock, compiled note) are
  not cloned: the new generation gets its own.
tests/test_edits.py checks that an edit changes not one byte, mode or mtime of the
current generation.
"""

from __future__ import annotations

import errno
import os
import stat

from uvlaunch.building import complete, venv
from uvlaunch.errors import HomeError, UvError
from uvlaunch.scripts.script import Script
from uvlaunch.uv import calls as uv
from uvlaunch.uv import linking
from uvlaunch.uv import output as uvoutput

# uv's own limit for a plain shebang line (format_shebang, from pip's distlib): longer,
# or with a space, an entry point starts through /bin/sh.
SHEBANG_MAX = 127


def prepare(
    script: Script,
    env: str,
    new: str,
    uv_bin: str,
    *,
    keep: bool,
    but: tuple[str, ...] = (),
    clone: bool = False,
) -> None:
    """Create the empty generation ``new`` with ``env``'s interpreter (while the block's
    requires-python admits it) and, with ``keep``, ``env``'s versions of its packages
    but ``but``, so that a sync into ``new`` keeps them where the block allows.

    ``clone``: ``new`` becomes a clone of ``env`` by hard links where it can
    (``clone_into``), so that the sync changes only what the block's edit changes."""
    invoked = script.ident.invoked
    python = _python_for(script, env, uv_bin)
    run_uv(uv.venv_argv(uv_bin, new, python=python), new, invoked, "create")
    if clone and clonable(env, python):
        clone_into(env, new)
        return  # uv keeps the versions installed where the block allows
    pinned = _pins(env, but) if keep and script.block is not None and not script.locked else {}
    if pinned:
        # uv prefers the versions installed in the environment it syncs: installing
        # today's versions first makes the resolution that follows keep them.
        pins = [f"{pkg}=={version}" for pkg, version in pinned.items()]
        uv.capture(uv.pip_install_argv(uv_bin, new, pins), new)
        # A version no index offers any more is resolved afresh by the sync.


def _python_for(script: Script, env: str, uv_bin: str) -> str | None:
    """The interpreter the environment has now, while requires-python still admits it."""
    current = venv.base_python(env)
    spec = script.meta().requires_python if script.block is not None else None
    if current is not None and (not spec or complete.admits(spec, venv.python_version(env))):
        return current
    return complete.find_python(script, uv_bin) or spec


def _pins(env: str, upgrading: tuple[str, ...]) -> dict[str, str]:
    skip = {venv.normalize(p) for p in upgrading} | venv.direct_urls(env)
    return {pkg: v for pkg, v in venv.installed(env).items() if pkg not in skip}


def run_uv(argv: list[str], new: str, invoked: str, what: str) -> None:
    rc, err = uv.capture(argv, new)
    if rc != 0:
        raise UvError(
            f"{invoked}: uv could not {what} the new environment: {uvoutput.reason(err, rc)}"
        )


def clonable(current: str, python: str | None) -> bool:
    """Whether an edit of ``current`` may be built as its clone: uv links by hard links
    (its copy modes write onto existing files in place) and the interpreter stays."""
    if os.name != "posix" or linking.link_mode() != "hardlink":
        return False
    return python is not None and python == venv.base_python(current)


def clone_into(current: str, new: str) -> None:
    """Hard-link the trees of the generation ``current`` into ``new``, which ``uv venv``
    made with the same interpreter; what ``new`` has already stays as it is.

    Only directories are cloned (``lib``, ``bin``, ``include``, ``share`` ...): the files
    at the top (pyvenv.cfg, uvlaunch's stamp and locks) are the new generation's own.
    Raises HomeError naming the file that could not be cloned.
    """
    pythons = (os.path.join(current, "bin", "python"), os.path.join(new, "bin", "python"))
    src, dst = _open_dir(current), _open_dir(new)
    try:
        for entry in _entries(src, current):
            if entry.is_dir(follow_symlinks=False):
                where = os.path.join(current, entry.name)
                if entry.name == "bin":
                    _tree(src, dst, entry.name, where, bin_of=(pythons, (current, new)))
                else:
                    _tree(src, dst, entry.name, where)
    finally:
        os.close(src)
        os.close(dst)


# Descriptors, names relative to them: 6,000 files of pandas, typer and rich link in
# about 100 ms this way, a third faster than by full paths.
def _open_dir(path: str, dir_fd: int | None = None) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError as e:
        raise HomeError(f"{path}: cannot open it to clone it: {e.strerror or e}") from None


def _entries(fd: int, where: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(fd) as it:
            return list(it)
    except OSError as e:
        raise HomeError(f"{where}: cannot read it to clone it: {e.strerror or e}") from None


Rewrite = tuple[tuple[str, str], tuple[str, str]]  # (old, new) interpreters, generations


def _tree(
    src_parent: int, dst_parent: int, name: str, where: str, bin_of: Rewrite | None = None
) -> None:
    """Clone the directory ``name`` (``where``) into ``dst_parent``, made anew there
    (unless uv venv made it); with ``bin_of``, ``bin/``'s files are rewritten or linked."""
    try:
        mode = os.lstat(name, dir_fd=src_parent).st_mode
        os.mkdir(name, stat.S_IMODE(mode) | 0o700, dir_fd=dst_parent)
    except FileExistsError:
        pass  # uv venv made it (bin/, lib/, lib/pythonX.Y/site-packages/)
    except OSError as e:
        raise HomeError(f"{where}: cannot clone it: {e.strerror or e}") from None
    src, dst = _open_dir(name, src_parent), None
    try:
        dst = _open_dir(name, dst_parent)
        in_pycache = name == "__pycache__"
        for entry in _entries(src, where):
            if entry.is_dir(follow_symlinks=False):
                _tree(src, dst, entry.name, os.path.join(where, entry.name))
            elif in_pycache and not entry.name.endswith(".pyc"):
                continue  # a compiler's temporary file, renamed into place any moment
            elif bin_of is not None and entry.is_file(follow_symlinks=False):
                _bin_file(src, dst, entry.name, os.path.join(where, entry.name), bin_of)
            else:
                _link(src, dst, entry, os.path.join(where, entry.name))
    finally:
        os.close(src)
        if dst is not None:
            os.close(dst)


def _link(src: int, dst: int, entry: os.DirEntry[str], where: str) -> None:
    name = entry.name
    try:
        if entry.is_symlink():
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        else:
            os.link(name, name, src_dir_fd=src, dst_dir_fd=dst, follow_symlinks=False)
    except FileExistsError:
        return  # uv venv's own (bin/python, _virtualenv.pth ...)
    except OSError as e:
        if e.errno not in (errno.EMLINK, errno.EPERM, errno.EXDEV):
            raise HomeError(
                f"{where}: cannot link it into the new generation: {e.strerror}"
            ) from None
        _write(src, dst, name, where, None)  # a file of its own: as good, only bigger


def _bin_file(src: int, dst: int, name: str, where: str, bin_of: Rewrite) -> None:
    """An entry point that names the current generation is written anew for the new one;
    anything else in ``bin/`` is linked (uv venv's own stay)."""
    try:
        os.lstat(name, dir_fd=dst)
        return  # uv venv's (activate scripts, python links): they name the new path
    except FileNotFoundError:
        pass
    except OSError as e:
        raise HomeError(f"{where}: cannot clone it: {e.strerror or e}") from None
    _write(src, dst, name, where, bin_of)


def _write(src: int, dst: int, name: str, where: str, bin_of: Rewrite | None) -> None:
    """Write ``name`` anew in ``dst``: ``src``'s content (rewritten, with ``bin_of``),
    its mode; linked instead when there is nothing to rewrite."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=src)
        with open(fd, "rb") as f:
            content = f.read()
            mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
    except OSError as e:
        raise HomeError(f"{where}: cannot read it: {e.strerror or e}") from None
    if bin_of is not None:
        changed = rewritten(content, *bin_of)
        if changed is None:
            try:
                os.link(name, name, src_dir_fd=src, dst_dir_fd=dst, follow_symlinks=False)
                return
            except OSError:
                pass  # written as a file of its own below
        else:
            content = changed
    try:
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dst)
        with open(out, "wb") as f:
            f.write(content)
    except OSError as e:
        raise HomeError(
            f"{where}: cannot write it into the new generation: {e.strerror or e}"
        ) from None


def rewritten(content: bytes, pythons: tuple[str, str], envs: tuple[str, str]) -> bytes | None:
    """``content`` of a file in ``bin/`` made for the new generation: its shebang for the
    new interpreter (as uv writes one) and any other mention of the old generation's
    path replaced; None when it names neither (it can be linked as it is)."""
    old_python, new_python = pythons
    old_env, new_env = (os.fsencode(p) for p in envs)
    old = shebang(old_python)
    if content.startswith(old + b"\n"):
        return shebang(new_python) + content[len(old) :]
    if old_env + b"/" not in content:
        return None
    return content.replace(old_env + b"/", new_env + b"/")


def shebang(python: str) -> bytes:
    """The shebang uv writes into an entry point for ``python`` (its ``format_shebang``)."""
    if len(os.fsencode(python)) + 3 > SHEBANG_MAX or " " in python:
        quoted = "'" + python.replace("'", "'\\''") + "'"
        return os.fsencode(f"#!/bin/sh\n'''exec' {quoted} \"$0\" \"$@\"\n' '''")
    return b"#!" + os.fsencode(python)
