"""Many machines, one home: which variant of an environment is this machine's.

A home shared by several machines (an NFS home on a cluster, a folder bind-mounted into
containers) holds one environment per script, but each machine may have another Python.
An environment therefore has variants, one per interpreter: the first built has the
pointers ``current`` and ``previous``, each other one ``current-KEY`` and
``previous-KEY`` (pointer.py), where KEY is a hash of the interpreter it was built with
as the building machine saw it: its resolved path, its version and the platform
(``key``). Generations are shared by all variants (one numbering, one directory).

A launch uses the first variant whose interpreter is here and is still the Python it
was built with (``usable``); when none is, it builds a variant for this machine's
Python beside the others, and never rebuilds another machine's. Machines with the same
interpreter at the same path (the same container image, a shared module system) use the
same variant. See docs/how-it-works.md, "Many machines, one home".
"""

from __future__ import annotations

import os
import sys

from uvlaunch.building import venv
from uvlaunch.home import hosts, paths, pointer, sharers, stamp, store
from uvlaunch.home.env import Env


def platform_tag() -> str:
    """This machine's operating system and processor, as the interpreter's binaries need."""
    machine = os.uname().machine if hasattr(os, "uname") else ""
    return f"{sys.platform}-{machine}"


def key(env: str) -> str:
    """The variant key of the generation ``env``: its interpreter, as this machine sees it."""
    base = os.path.realpath(paths.env_python(env))
    text = f"{base}\0{venv.python_version(env)}\0{platform_tag()}"
    return store.sha256_hex(os.fsencode(text))[: pointer.KEY_DIGITS]


def usable(env: str) -> bool:
    """Whether the generation ``env`` can run here: its interpreter exists and is the
    Python version it was built with (another machine's is missing or another one)."""
    python = paths.env_python(env)
    if not os.path.exists(python):
        return _orphan_here(env)
    fields = stamp.read(paths.stamp_path(env))
    if fields is None or fields.pysig == stamp.file_signature(python):
        return True  # unstamped: half-built here, or killed; envbuild decides
    built = fields.python
    now = venv.running_version(python)
    return now is not None and now.split(".")[:2] == built.split(".")[:2]


def _orphan_here(env: str) -> bool:
    """Whether ``env`` is a thin generation whose source is gone (deleted by hand: its
    ``python`` led through the source's, building/thin.py) built on an interpreter this
    machine has: this machine's then, for the launch to find it damaged and rebuild it."""
    if sharers.source_of(env) is None:
        return False
    # pyvenv.cfg is a hard link to the source's (thin.py): still here, naming the
    # directory of the interpreter the source was built with.
    home = venv.pyvenv_value(env, "home")
    version = venv.python_version(env).split(".")[:2]
    return bool(home) and any(
        os.path.exists(os.path.join(home, name))
        for name in ("python" + ".".join(version), "python" + version[0], "python")
    )


def choose(env: Env) -> str | None:
    """This machine's variant of ``env``: the first whose current generation is usable
    here; "" when there is none at all yet; None when every one is another machine's."""
    found = env.variants()
    if not found:
        return ""
    for variant in found:
        current = env.with_variant(variant).current()
        if current is None or not os.path.isdir(current):
            if variant == "":
                return ""  # the pointer without a generation: built again, as before
            continue
        if usable(current):
            return variant
    return None


def describe(variant: Env) -> str:
    """What a variant is, for list/show: its interpreter's path and version."""
    env = variant.current()
    if env is None:
        return "-"
    target = venv.interpreter_link(env) if os.path.islink(paths.env_python(env)) else ""
    here = "" if os.path.exists(paths.env_python(env)) else " (not on this machine)"
    return f"Python {venv.python_version(env) or '?'} {target}{here}".rstrip()


# -- builds on a shared home ------------------------------------------------------


BUILDING = ".building"  # beside a generation being built: the machine building it
USES = "uses"  # envs/NAME/uses/gN-HOSTKEY: the machines that used the generation gN
GRACE = 30 * 86400  # seconds a machine's use of a generation (or of a script) counts

host = hosts.host  # this machine and view: what its marks and claims carry
host_key = hosts.host_key
host_name = hosts.host_name


def mark_building(generation: str) -> None:
    """Mark the new generation ``generation`` as this machine's build, and as used by
    this machine (for gc and prune elsewhere: ``used_elsewhere``)."""
    try:
        with open(generation + BUILDING, "w", encoding="utf-8") as f:
            f.write(host() + "\n")
    except OSError:
        pass  # only a help for gc on other machines
    mark_used(generation)


def mark_used(generation: str) -> None:
    """This machine uses ``generation`` now: its use mark is made or its time refreshed."""
    top, base = os.path.split(generation)
    mark = os.path.join(top, USES, f"{base}-{host_key()}")
    try:
        os.utime(mark)
    except FileNotFoundError:
        try:
            os.makedirs(os.path.dirname(mark), mode=0o700, exist_ok=True)
            os.close(os.open(mark, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError:
            pass  # a help for gc elsewhere; never a reason to fail a launch
    except OSError:
        pass


def seen_elsewhere(top: str, generation: str = "") -> float | None:
    """When another machine (view) last used the environment ``top`` (or only its
    generation ``generation``): the latest of its use marks, or of the last launch of a
    generation it marked (warm starts touch only the stamp); None when no other machine
    left a mark."""
    mine = "-" + host_key()
    try:
        entries = os.listdir(os.path.join(top, USES))
    except OSError:
        return None
    prefix = generation + "-" if generation else ""
    marks = [e for e in entries if e.startswith(prefix) and not e.endswith(mine)]
    if not marks:
        return None
    latest = 0.0
    for entry in marks:
        used = os.path.join(top, entry.rsplit("-", 1)[0])
        launched = stamp.last_launched(paths.stamp_path(used)) or 0.0
        try:
            latest = max(latest, launched, os.lstat(os.path.join(top, USES, entry)).st_mtime)
        except OSError:
            continue
    return latest


def used_elsewhere(generation: str, grace: float = GRACE) -> bool:
    """Whether another machine used ``generation`` within ``grace`` seconds. Locks may
    not reach other machines (NFS ``nolock``, Lustre ``localflock``): marks do."""
    top, base = os.path.split(generation)
    latest = seen_elsewhere(top, base)
    return latest is not None and store.now() - latest < grace


def drop_marks(generation: str) -> None:
    """Delete the marks of ``generation`` (it is gone)."""
    top, base = os.path.split(generation)
    done_building(generation)
    uses = os.path.join(top, USES)
    try:
        entries = os.listdir(uses)
    except OSError:
        return
    for entry in entries:
        if entry.startswith(base + "-"):
            try:
                os.unlink(os.path.join(uses, entry))
            except OSError:
                pass
    try:
        os.rmdir(uses)  # the last: nothing of the environment stays for it
    except OSError:
        pass


def done_building(generation: str) -> None:
    """The generation's build is over (flipped to, or discarded): its mark goes."""
    try:
        os.unlink(generation + BUILDING)
    except OSError:
        pass


BUILD_GRACE = 3600  # seconds an unstamped generation may be another machine's build


def building_elsewhere(path: str) -> bool:
    """Whether the unpointed generation directory ``path`` is another machine's build."""
    # On a shared home mounted without lock support, another machine may be building
    # this generation without our lock: one it marked as its own is kept while young.
    try:
        with open(path + BUILDING, encoding="utf-8") as f:
            builder = f.read().strip()
        young = store.now() - os.lstat(path + BUILDING).st_mtime < BUILD_GRACE
    except (OSError, UnicodeDecodeError):
        return False
    if builder == host() or not young:
        done_building(path)  # ours, killed (we hold the lock), or long dead
        return False
    return True
