"""What a launch finds about an environment: the facts ``plan.decide`` takes.

Read from the pointer, the stamp, the script and the interpreter. The one effect: an
interpreter patched in place (the same Python version, a new binary) is re-stamped
rather than rebuilt (``_interpreter_changed``).
"""

from __future__ import annotations

import os

from uvlaunch.building import complete, machines, plan, thin, venv
from uvlaunch.building.generations import is_legacy
from uvlaunch.home import paths, stamp, store
from uvlaunch.home.env import Env
from uvlaunch.scripts.script import Script


def gather(base: Env, script: Script) -> tuple[plan.Facts, stamp.Stamp | None]:
    """What ``plan.decide`` needs, and the current generation's stamp.

    Its one effect: an interpreter patched in place (the same Python version) is
    re-stamped here (``_interpreter_changed``).
    """
    if is_legacy(base):
        return plan.Facts(legacy=True), None
    chosen = machines.choose(base)
    if chosen is None:
        return plan.Facts(chosen=None), None
    current = base.with_variant(chosen).current()
    if current is None or not os.path.isdir(current):
        return plan.Facts(chosen=chosen, present=False), None
    old = stamp.read(paths.stamp_path(current))
    damage, old = damage_of(base.root, current, old)
    changed = damage is None and old is not None and _changed(old, script)
    admits = None
    if changed:
        assert old is not None
        spec = script.meta().requires_python
        if spec and not complete.admits(spec, old.python):
            admits = f"requires-python {spec!r} no longer admits its Python {old.python}"
    facts = plan.Facts(chosen=chosen, damage=damage, changed=changed, admits=admits)
    return facts, old


def damage_of(
    root: str, env: str, old: stamp.Stamp | None
) -> tuple[str | None, stamp.Stamp | None]:
    """Why the environment must be rebuilt whatever its script says (or None); its stamp."""
    python = paths.env_python(env)
    if not thin.intact(env):
        # First: its python leads through the source's, gone too (thin.py).
        return "the generation whose packages it shared is gone", old
    # An interpreter that is not here is another machine's: machines.choose() picked
    # another variant then. One here that changed is this machine's.
    if old is not None and old.pysig != stamp.file_signature(python):
        reason = _interpreter_changed(root, env, old)
        if reason is not None:
            return reason, old
        old = stamp.read(paths.stamp_path(env))
    if not venv.is_intact(env):
        return "it was left half-built", old
    if old is None:
        # What a killed sync leaves is unknown (uv may have died halfway through a
        # package, and then refuses to sync over it): build it afresh.
        return "its last sync did not finish", old
    return None, old


def _changed(old: stamp.Stamp, script: Script) -> bool:
    """Whether the script's block or lock file changed since the stamp ``old``, or what
    the block's relative paths mean (the script moved to another folder: relative.py)."""
    return (
        old.block != script.block
        or old.lockhash != script.lock_hash
        or old.resolved != script.resolved()
    )


def _interpreter_changed(root: str, env: str, old: stamp.Stamp) -> str | None:
    """After the file behind the environment's ``python`` changed: why to rebuild, if so.

    The same Python version (a patch release installed over it, a copy) keeps the
    environment, and the stamp is brought up to date; another version (a version-neutral
    link that now leads to a newer Python) would run with the wrong site-packages.
    """
    python = paths.env_python(env)
    now = venv.running_version(python)
    built = old.python
    if now is not None and now.split(".")[:2] == built.split(".")[:2]:
        new = old.replace(pysig=stamp.file_signature(python), python=now)
        store.write_atomic(root, paths.stamp_path(env), new.encode())
        return None
    shown = "cannot be started" if now is None else f"is now Python {now}"
    return f"its Python interpreter {_readlink(python)} {shown} (it was built with {built})"


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return path
