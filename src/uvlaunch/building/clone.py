"""A generation cloned from another by hard links: what a block edit starts from.

Every file of the current generation is hard-linked into the new one, each directory
made anew, so that the ``uv sync`` that follows changes only what the edit changes
(beside.py). The two generations then share inodes, so nothing may write into a file
of the new one in place, and nothing here does:
- a file that names the current generation's path (an entry point's shebang, an
  activation script, in ``bin/``) is written anew for the new path, never linked;
- the files at the top (pyvenv.cfg, uv's ``.lock``) are written anew, each the new
  generation's own; uvlaunch's (its stamp, use lock, compiled note) are not cloned;
- a compiler's temporary file in ``__pycache__`` (renamed into place any moment) is
  left out; a ``.pyc`` is linked, and whoever writes one later (the compiler, Python)
  writes it by rename.
What uv does afterwards is beside.py's concern; tests/test_edits.py checks that an edit
changes not one byte, mode or mtime of the current generation.
"""

from __future__ import annotations

import errno
import os
import stat

from uvlaunch.building import bytecode
from uvlaunch.errors import HomeError
from uvlaunch.home import trust

# uv's own limit for a plain shebang line (format_shebang, from pip's distlib): longer,
# or with a space, an entry point starts through /bin/sh.
SHEBANG_MAX = 127
OWN = "uvlaunch-"  # the generation's files of uvlaunch's own: the new one makes its own
UV_LOCK = ".lock"  # uv's lock on the environment: a new, empty one


class _Clone:
    """One clone: the two generations, and their interpreters (for shebangs)."""

    __slots__ = ("envs", "pythons")

    def __init__(self, current: str, new: str) -> None:
        self.envs = (current, new)
        self.pythons = (os.path.join(current, "bin", "python"), os.path.join(new, "bin", "python"))


def clone_into(current: str, new: str, *, skeleton: bool) -> None:
    """Clone the generation ``current`` into the empty directory ``new`` by hard links.

    ``skeleton``: the top of the environment too (pyvenv.cfg, the interpreter's links,
    activation scripts), written anew for the new path; else ``uv venv`` made those
    already, and what ``new`` has stays as it is. Raises HomeError naming the file that
    could not be cloned (the caller discards ``new``).
    """
    how = _Clone(current, new)
    work = _Work()
    src, dst = _open_dir(current), _open_dir(new)
    # The modes uv gives what it makes (spawn.py), not uvlaunch's private umask: the
    # clone is what uv venv and uv sync would have made.
    umask = os.umask(trust.child_umask())
    try:
        for entry in _entries(src, current):
            name, where = entry.name, os.path.join(current, entry.name)
            if entry.is_dir(follow_symlinks=False):
                _mkdir(src, dst, name, where)
                work.add(where, os.path.join(new, name), how if name == "bin" else None)
            elif not skeleton or name.startswith(OWN):
                continue
            elif name == UV_LOCK:
                _write(dst, name, b"", 0o644, where)
            elif entry.is_symlink():
                _link(src, dst, entry, where, how)
            else:
                _copy(src, dst, name, where, how, link_if_same=False)
        work.run()
    finally:
        os.umask(umask)
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


def _mkdir(src_parent: int, dst_parent: int, name: str, where: str) -> None:
    """The directory ``name`` made anew in ``dst_parent``, with its mode in ``src_parent``
    (unless uv venv made it: bin/, lib/, lib/pythonX.Y/site-packages/)."""
    try:
        mode = os.lstat(name, dir_fd=src_parent).st_mode
        os.mkdir(name, stat.S_IMODE(mode) | 0o700, dir_fd=dst_parent)
    except FileExistsError:
        pass
    except OSError as e:
        raise HomeError(f"{where}: cannot clone it: {e.strerror or e}") from None


# Linking is system calls, which run without the GIL: a thread per core, each taking the
# next directory, clone pandas, typer and rich in 0.55 to 0.9 x one thread's time on 2
# cores (more threads than cores were slower: docs/performance.md).
THREADS = 4


class _Work:
    """The directories left to clone (made already in the new generation), shared by the
    threads that clone them; the first error stops them all and is raised by ``run``."""

    def __init__(self) -> None:
        import threading

        self.todo: list[tuple[str, str, _Clone | None]] = []
        self.busy = 0
        self.error: BaseException | None = None
        self.cond = threading.Condition()
        self.threading = threading

    def add(self, where: str, into: str, rewrite: _Clone | None) -> None:
        with self.cond:
            self.todo.append((where, into, rewrite))
            self.cond.notify()

    def run(self) -> None:
        threads = [
            self.threading.Thread(target=self._worker, daemon=True)
            for _ in range(min(THREADS, bytecode.cores()) - 1)
        ]
        for thread in threads:
            thread.start()
        self._worker()
        for thread in threads:
            thread.join()
        if self.error is not None:
            raise self.error

    def _worker(self) -> None:
        while True:
            with self.cond:
                while not self.todo and self.busy and self.error is None:
                    self.cond.wait()
                if not self.todo or self.error is not None:
                    self.cond.notify_all()  # the others see the end too
                    return
                task = self.todo.pop()
                self.busy += 1
            try:
                _tree(self, *task)
            except BaseException as e:  # HomeError, or anything unexpected: raised by run
                with self.cond:
                    self.error = self.error or e
            finally:
                with self.cond:
                    self.busy -= 1
                    self.cond.notify_all()


def _tree(work: _Work, where: str, into: str, rewrite: _Clone | None) -> None:
    """Clone the files of the directory ``where`` into ``into`` (made already), and hand
    its directories, made there, to ``work``; with ``rewrite`` (``bin/``), a file that
    names the current generation is written anew."""
    src, dst = _open_dir(where), None
    try:
        dst = _open_dir(into)
        in_pycache = os.path.basename(where) == "__pycache__"
        for entry in _entries(src, where):
            inner = os.path.join(where, entry.name)  # for messages: scandir(fd) gives names
            if entry.is_dir(follow_symlinks=False):
                _mkdir(src, dst, entry.name, inner)
                work.add(inner, os.path.join(into, entry.name), None)
            elif in_pycache and not entry.name.endswith(".pyc"):
                continue  # a compiler's temporary file, renamed into place any moment
            elif rewrite is not None and entry.is_file(follow_symlinks=False):
                _copy(src, dst, entry.name, inner, rewrite, link_if_same=True)
            else:
                _link(src, dst, entry, inner, rewrite)
    finally:
        os.close(src)
        if dst is not None:
            os.close(dst)


def _link(src: int, dst: int, entry: os.DirEntry[str], where: str, how: _Clone | None) -> None:
    name = entry.name
    try:
        if entry.is_symlink():
            target = os.readlink(name, dir_fd=src)
            if how is not None:  # bin/python links name the base interpreter, or python
                target = os.fsdecode(renamed(os.fsencode(target), how.envs) or target)
            os.symlink(target, name, dir_fd=dst)
        else:
            os.link(name, name, src_dir_fd=src, dst_dir_fd=dst, follow_symlinks=False)
    except FileExistsError:
        return  # uv venv's own (bin/python, the activation scripts)
    except OSError as e:
        if e.errno not in (errno.EMLINK, errno.EPERM, errno.EXDEV):
            raise HomeError(
                f"{where}: cannot link it into the new generation: {e.strerror}"
            ) from None
        _copy(src, dst, name, where, None, link_if_same=False)  # as good, only bigger


def _copy(
    src: int, dst: int, name: str, where: str, how: _Clone | None, *, link_if_same: bool
) -> None:
    """``name`` anew in ``dst``: ``src``'s content, with ``how`` made for the new
    generation (``rewritten``), and its mode; with ``link_if_same``, linked instead when
    there is nothing to rewrite. What uv venv made already stays."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=src)
        with open(fd, "rb") as f:
            content = f.read()
            mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
    except OSError as e:
        raise HomeError(f"{where}: cannot read it: {e.strerror or e}") from None
    changed = None if how is None else rewritten(content, how)
    if changed is None and link_if_same:
        try:
            os.link(name, name, src_dir_fd=src, dst_dir_fd=dst, follow_symlinks=False)
            return
        except FileExistsError:
            return
        except OSError:
            pass  # written as a file of its own below
    _write(dst, name, content if changed is None else changed, mode, where)


def _write(dst: int, name: str, content: bytes, mode: int, where: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        out = os.open(name, flags, mode, dir_fd=dst)
    except FileExistsError:
        return  # uv venv's own: it names the new path already
    except OSError as e:
        raise HomeError(f"{where}: cannot write it into the new generation: {e.strerror}") from None
    try:
        with open(out, "wb") as f:
            f.write(content)
    except OSError as e:
        raise HomeError(f"{where}: cannot write it into the new generation: {e.strerror}") from None


def rewritten(content: bytes, how: _Clone) -> bytes | None:
    """``content`` of a file in ``bin/`` made for the new generation: its shebang for the
    new interpreter (as uv writes one) and any other mention of the current generation's
    path renamed; None when it names neither."""
    old_python, new_python = how.pythons
    old = shebang(old_python)
    if content.startswith(old + b"\n"):
        content = shebang(new_python) + content[len(old) :]
        return renamed(content, how.envs) or content
    return renamed(content, how.envs)


def renamed(content: bytes, envs: tuple[str, str]) -> bytes | None:
    """``content`` with the path ``envs[0]`` (as a whole path, not a prefix of a longer
    name: ``g1`` in ``g10``) replaced by ``envs[1]``; None when it has none."""
    old, new = (os.fsencode(p) for p in envs)
    out, start, found = [], 0, False
    while (at := content.find(old, start)) >= 0:
        end = at + len(old)
        if end < len(content) and (content[end : end + 1].isalnum() or content[end] in b"._-"):
            out.append(content[start:end])
        else:
            out += [content[start:at], new]
            found = True
        start = end
    return b"".join([*out, content[start:]]) if found else None


def shebang(python: str) -> bytes:
    """The shebang uv writes into an entry point for ``python`` (its ``format_shebang``)."""
    if len(os.fsencode(python)) + 3 > SHEBANG_MAX or " " in python:
        quoted = "'" + python.replace("'", "'\\''") + "'"
        return os.fsencode(f"#!/bin/sh\n'''exec' {quoted} \"$0\" \"$@\"\n' '''")
    return b"#!" + os.fsencode(python)
