"""The warm record: what a start needs to know to skip uv, written by Python, read by both.

One file per script and view, ``warm/DEV-INO-HOMEKEY`` (paths.warm_path): the script's
device and inode, and the FNV-1a of the home's path as this view spells it, so that a
container and its host (bind mounts: one ``st_dev``, the home at two paths) each keep
theirs warm. Python writes it whenever it has found a script's environment right (a
launch, launch.py; an edit below the block, fastpath.py). The native launcher and the
Python fast path read it alike (``matches``), then take the generation's use lock and
check it is still current (pointer.py), complete, and its interpreter there.

The format is fixed and has no parser to speak of: fields, each ending in a NUL byte,
in this order (contract.WARM_FIELDS; see docs/how-it-works.md)::

    uvlaunch-warm-4
    NAME            the environment's name
    SCRIPT_SIG      dev:ino:size:mtime_ns:ctime_ns of the script
    LOCK_SIG        dev:ino:size:mtime_ns of SCRIPT.lock, or "-"
    UV              the uv binary that synced the environment
    UV_SIG          dev:ino:size:mtime_ns of that binary, or "-"
    ENV             HOME/envs/NAME/GEN, the generation current when it was written
    POINTER         the pointer that named it: "current", or "current-KEY" for the
                    variant of another interpreter (machines.py)
    PYTHON          ENV/bin/python
    PYTHON_SIG      dev:ino:size:mtime_ns of the file PYTHON leads to (the interpreter
                    the environment was built with), or "-"
    SCRIPTS...      one field or more: the resolved paths the file is recorded by
                    (records.py: its script, its other names, every view's), as bytes
    end

A start by a path not among SCRIPTS goes the slow way, which records that name
(docs/how-it-works.md, "One identity"). Anything else (truncated, foreign, another
user's, larger than MAX_SIZE, outside the home) is "not warm": the slow way writes it
afresh. Imported on every Python warm start: ``os`` and ``sys`` only.
"""

from __future__ import annotations

import os
import stat as stat_mod
import sys

from uvlaunch import contract
from uvlaunch.home import paths, pointer, stamp
from uvlaunch.home.names import is_safe_name, lock_file

MAGIC = contract.WARM_MAGIC
END = "end"
FIELDS = len(contract.WARM_FIELDS)
MAX_SIZE = contract.WARM_MAX


class Warm:
    """A warm record's fields (paths as this process's ``os`` functions take them)."""

    __slots__ = contract.WARM_FIELDS[1:-1]

    def __init__(
        self,
        *,
        name: str,
        script_sig: str,
        lock_sig: str,
        uv: str,
        uv_sig: str,
        env: str,
        pointer: str = "current",
        python: str,
        python_sig: str,
        scripts: tuple[str, ...],
    ) -> None:
        self.name = name
        self.script_sig = script_sig
        self.lock_sig = lock_sig
        self.uv = uv
        self.uv_sig = uv_sig
        self.env = env
        self.pointer = pointer
        self.python = python
        self.python_sig = python_sig
        self.scripts = scripts

    def encode(self) -> bytes:
        """The record's bytes; ValueError when it cannot be one (no script, a NUL).

        Names that do not fit in MAX_SIZE are left out, the oldest first: a start by one
        of them is a slow one.
        """
        fixed = [MAGIC, *(getattr(self, f) for f in contract.WARM_FIELDS[1:-2]), *self.scripts[:1]]
        head = [os.fsencode(v) for v in fixed]
        rest = [os.fsencode(v) for v in self.scripts[1:]]
        if any(b"\0" in v for v in (*head, *rest)) or not self.scripts:
            raise ValueError("a warm record's field contains NUL, or it has no script")
        size = sum(len(v) + 1 for v in head) + len(END) + 1
        while rest and size + sum(len(v) + 1 for v in rest) > MAX_SIZE:
            rest.pop(0)
        if size > MAX_SIZE:
            raise ValueError("a warm record's fields are too long")
        return b"\0".join([*head, *rest, END.encode()]) + b"\0"


def script_signature(st: os.stat_result) -> str:
    """The script's signature: any edit, ``touch``, chmod or rename changes it."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def read(root: str, dev: int, ino: int, path: str = "") -> Warm | None:
    """The warm record of the file ``dev``/``ino`` (or the one at ``path``), or None when
    there is no usable one."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path or paths.warm_path(root, dev, ino), flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (
            not stat_mod.S_ISREG(st.st_mode)
            or st.st_size > MAX_SIZE
            or (sys.platform != "win32" and st.st_uid != os.geteuid())
        ):
            return None
        raw = os.read(fd, MAX_SIZE + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    parts = raw.split(b"\0")
    if len(raw) > MAX_SIZE or len(parts) < FIELDS + 1 or parts[-1] != b"":
        return None
    v = [os.fsdecode(p) for p in parts[:-1]]
    if v[0] != MAGIC or v[-1] != END:
        return None
    fixed = dict(zip(contract.WARM_FIELDS[1:-2], v[1 : FIELDS - 2], strict=True))
    return Warm(**fixed, scripts=tuple(v[FIELDS - 2 : -1]))


def matches(root: str, warm: Warm, path: str, st: os.stat_result) -> bool:
    """Whether ``warm`` says the script at ``path`` (stat ``st``) may start without uv.

    The checks launcher.c makes, in the same order; the environment's stamp and
    interpreter are checked afterwards, under the use lock.
    """
    if not is_safe_name(warm.name) or not is_generation_of(root, warm.name, warm.env):
        return False
    if warm.pointer[:7] != pointer.CURRENT or not pointer.is_variant(warm.pointer[7:]):
        return False
    if warm.python != paths.env_python(warm.env):
        return False
    # A name the file is not recorded by yet: the slow path records it. The signature
    # pins the file as it was when the record was written (a link, a rename or a new
    # file given the same inode changes its ctime).
    if path not in warm.scripts or warm.script_sig != script_signature(st):
        return False
    return same_inputs(path, lock_sig=warm.lock_sig, uv=warm.uv, uv_sig=warm.uv_sig)


def same_inputs(path: str, *, lock_sig: str, uv: str, uv_sig: str) -> bool:
    """What both a warm record and a stamp vouch for besides the script, checked the one
    way: the lock file beside ``path`` and the uv binary are as they were (and
    ``UVLAUNCH_UV``, if set, names that uv)."""
    if stamp.file_signature(lock_file(path)) != lock_sig:
        return False
    override = os.environ.get("UVLAUNCH_UV")
    if override and os.path.abspath(override) != uv:
        return False
    return stamp.file_signature(uv) == uv_sig


def is_generation_of(root: str, name: str, env: str) -> bool:
    """Whether ``env`` is spelled as a generation of the environment ``name`` (not whether
    it exists or is current: that is checked under its lock)."""
    parent, generation = os.path.split(env)
    return parent == paths.env_dir(root, name) and pointer.is_generation(generation)


def variant_of(warm: Warm) -> str:
    """The variant whose pointer the record names ("" for ``current``)."""
    return warm.pointer[len(pointer.CURRENT) :]


def from_stamp(
    name: str,
    env: str,
    st: os.stat_result,
    fields: stamp.Stamp,
    variant: str = "",
    scripts: tuple[str, ...] = (),
) -> Warm | None:
    """The warm record for the script whose stat, taken before it was read, is ``st``,
    and whose environment's current generation ``env`` is stamped ``fields``.

    ``scripts``: the names the file is recorded by; by default the stamp's one.

    None when the stamp ``fields`` are not about that file. Its device may differ: each
    NFS client of a shared home sees the same inode under a device number of its own.
    """
    if not fields.is_about(st):
        return None
    return Warm(
        name=name,
        script_sig=script_signature(st),
        lock_sig=fields.lock,
        uv=fields.uv,
        uv_sig=fields.uvsig,
        env=env,
        pointer=pointer.CURRENT + variant,
        python=paths.env_python(env),
        python_sig=fields.pysig,
        scripts=scripts or (paths.from_stored(fields.script),),
    )


def write(root: str, dev: int, ino: int, warm: Warm) -> None:
    """Replace the warm record of ``dev``/``ino`` atomically; failures leave it not warm."""
    if sys.platform == "win32":
        return  # no native launcher there
    tmp = os.path.join(paths.tmp_dir(root), f"warm-{dev}-{ino}.{os.urandom(8).hex()}")
    try:
        # No fsync: a record lost or torn by a crash only reads as "not warm".
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            data = memoryview(warm.encode())
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        os.replace(tmp, paths.warm_path(root, dev, ino))
    except (OSError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def confirm(
    root: str,
    name: str,
    env: str,
    st: os.stat_result | None,
    variant: str = "",
    scripts: tuple[str, ...] = (),
) -> None:
    """After a launch found the environment ``name`` right: record it for the next start.

    ``env``: its current generation. ``st``: the script's stat from before it was read,
    so that an edit made meanwhile leaves a record that no longer matches. ``scripts``:
    the names the file is recorded by (the record's script and other names).
    """
    if st is None:
        return
    fields = stamp.read(paths.stamp_path(env))
    warm = None if fields is None else from_stamp(name, env, st, fields, variant, scripts)
    if warm is not None:
        # The interpreter as this machine sees it (checked by the launch): a shared one
        # has another device number on each NFS client than in the stamp.
        warm.python_sig = stamp.file_signature(warm.python)
        write(root, st.st_dev, st.st_ino, warm)


def stat_before_reading(invoked: str) -> os.stat_result | None:
    """The script's stat, for ``confirm``; None when it cannot be taken."""
    try:
        return os.stat(os.path.realpath(invoked))
    except OSError:
        return None


def discard(root: str, dev: int, ino: int, name: str) -> None:
    """Delete the warm record of ``dev``/``ino`` if it is about the environment ``name``."""
    warm = read(root, dev, ino)
    if warm is not None and warm.name == name:
        try:
            os.unlink(paths.warm_path(root, dev, ino))
        except OSError:
            pass


def sweep(root: str) -> None:
    """Delete warm records that are damaged or name a generation no longer current (gc).
    Another view's (another home key) are judged by the generation's name alone."""
    top = paths.warm_dir(root)
    try:
        entries = os.listdir(top)
    except OSError:
        return
    for entry in entries:
        dev, ino, key = [*entry.split("-", 2), "", ""][:3]
        ok = dev.isdigit() and ino.isdigit() and len(key) == 16
        warm = read(root, 0, 0, os.path.join(top, entry)) if ok else None
        if warm is not None and is_safe_name(warm.name):
            now, was = pointer.current(root, warm.name, variant_of(warm)) or "", warm.env
            if key != paths.home_key(root):  # the generation at another view's path
                now, was = os.path.basename(now), os.path.basename(was)
            if now == was:
                continue
        try:
            os.unlink(os.path.join(top, entry))
        except OSError:
            pass
