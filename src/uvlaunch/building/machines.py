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
from uvlaunch.home import paths, pointer, stamp


def platform_tag() -> str:
    """This machine's operating system and processor, as the interpreter's binaries need."""
    machine = os.uname().machine if hasattr(os, "uname") else ""
    return f"{sys.platform}-{machine}"


def key(env: str) -> str:
    """The variant key of the generation ``env``: its interpreter, as this machine sees it."""
    from hashlib import sha256

    base = os.path.realpath(paths.env_python(env))
    text = f"{base}\0{venv.python_version(env)}\0{platform_tag()}"
    return sha256(os.fsencode(text)).hexdigest()[: pointer.KEY_DIGITS]


def usable(env: str) -> bool:
    """Whether the generation ``env`` can run here: its interpreter exists and is the
    Python version it was built with (another machine's is missing or another one)."""
    python = paths.env_python(env)
    if not os.path.exists(python):
        return False
    fields = stamp.read(paths.stamp_path(env))
    if fields is None or fields.pysig == stamp.file_signature(python):
        return True  # unstamped: half-built here, or killed; envbuild decides
    built = fields.python
    now = venv.running_version(python)
    return now is not None and now.split(".")[:2] == built.split(".")[:2]


def choose(root: str, name: str) -> str | None:
    """This machine's variant of ``name``: the first whose current generation is usable
    here; "" when there is none at all yet; None when every one is another machine's."""
    found = pointer.variants(root, name)
    if not found:
        return ""
    for variant in found:
        env = pointer.current(root, name, variant)
        if env is None or not os.path.isdir(env):
            if variant == "":
                return ""  # the pointer without a generation: built again, as before
            continue
        if usable(env):
            return variant
    return None


def describe(root: str, name: str, variant: str) -> str:
    """What a variant is, for list/show: its interpreter's path and version."""
    env = pointer.current(root, name, variant)
    if env is None:
        return "-"
    target = os.readlink(paths.env_python(env)) if os.path.islink(paths.env_python(env)) else ""
    here = "" if os.path.exists(paths.env_python(env)) else " (not on this machine)"
    return f"Python {venv.python_version(env) or '?'} {target}{here}".rstrip()
