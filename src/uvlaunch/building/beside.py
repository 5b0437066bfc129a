"""A new generation beside the current one: its interpreter, then its packages.

An upgrade or a reinstall starts from ``uv venv`` and today's versions pinned
(``prepare``), so that the sync that follows keeps them where the block allows. A block
edit starts from a clone of the current generation by hard links (clone.py): most of
what it needs is there already, the current generation's packages and their ``.pyc``
files; the one ``uv sync`` that follows changes only what the edit changes, as the
in-place sync did, and keeps the installed versions of the packages it leaves alone (uv
prefers what is installed). While the uv that made the current generation is the one
here, the clone takes its top too (pyvenv.cfg names that uv), else ``uv venv`` makes it.

The two generations share inodes, so uv must never write into a file in place. In
hard-link mode it only ever unlinks files and creates new ones (linking from its cache,
and renaming over a file in its way); its copy modes (``copy``, and ``clone``'s
fallback) copied onto an existing file in the uv releases read for this (``fs::copy``),
writing through into the current generation: with any link mode but ``hardlink`` an
edit is not cloned (``clonable``) and starts like an upgrade. So does the edit of a copy
whose generation is thin (building/thin.py): its packages are another environment's.
"""

from __future__ import annotations

import os

from uvlaunch.building import clone as cloning
from uvlaunch.building import complete, venv
from uvlaunch.errors import UvError
from uvlaunch.home import paths, sharers, stamp
from uvlaunch.scripts.script import Script
from uvlaunch.uv import calls as uv
from uvlaunch.uv import linking
from uvlaunch.uv import output as uvoutput


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
    (clone.py), so that the sync changes only what the block's edit changes."""
    invoked = script.ident.invoked
    python = _python_for(script, env, uv_bin)
    cloned = clone and clonable(env, python)
    skeleton = cloned and made_by(env, uv_bin)
    if not skeleton:
        run_uv(uv.venv_argv(uv_bin, new, python=python), new, invoked, "create")
    if cloned:
        cloning.clone_into(env, new, skeleton=skeleton)
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
    """Whether an edit of ``current`` may start as its clone: uv links by hard links
    (its copy modes may write onto existing files in place), the interpreter stays, and
    ``current`` is not a thin copy's (building/thin.py): its site-packages is a symlink
    to another environment's generation, which a clone would keep and the sync would
    then write into; a copy's edit starts like an upgrade, on packages of its own."""
    if os.name != "posix" or linking.link_mode() != "hardlink":
        return False
    if sharers.source_of(current) is not None or _linked_packages(current):
        return False
    return python is not None and python == venv.base_python(current)


def _linked_packages(env: str) -> bool:
    """Whether a site-packages of ``env`` is a symlink (a thin generation's, even one
    whose ``uvlaunch-shared`` is damaged)."""
    top = os.path.join(env, "lib")
    try:
        names = os.listdir(top)
    except OSError:
        return False
    return any(os.path.islink(os.path.join(top, n, "site-packages")) for n in names)


def clonable_for(script: Script, env: str, uv_bin: str) -> bool:
    """Whether an edit of ``script`` would start as a clone of ``env`` with its top
    (``prepare``'s choice): what a spare made ahead must match (spare.py)."""
    return clonable(env, _python_for(script, env, uv_bin)) and made_by(env, uv_bin)


def made_by(env: str, uv_bin: str) -> bool:
    """Whether the uv here made the generation ``env`` (its pyvenv.cfg says which)."""
    made = stamp.read(paths.stamp_path(env))
    return made is not None and made.uv == uv_bin and made.uvsig == stamp.file_signature(uv_bin)
