"""Generations of an environment: build a new one beside it, swap it in, roll it back.

An upgrade or reinstall never changes the environment a script runs in. The new
environment is built in ``staging/`` (relocatable, so that it works once renamed into
``envs/``), stamped complete, and only then renamed into place; the one it replaces
moves to ``previous/<name>``, where it waits for a rollback until the next upgrade
replaces it. A launch that finds the environment missing with a previous generation
present (a swap cut short by a kill) puts the previous one back first.
"""

from __future__ import annotations

import os

from uvlaunch import envbuild, locks, paths, records, stamp, store, uv, uvoutput, venv, warm
from uvlaunch.errors import UvError, UvlaunchError
from uvlaunch.script import Script


def build_beside(
    root: str,
    name: str,
    script: Script,
    uv_bin: str,
    *,
    upgrade: bool,
    packages: tuple[str, ...] = (),
) -> str:
    """Build a complete new environment for ``script`` in staging/; returns its path.

    ``upgrade``: newest versions the block allows (``packages``: only those); else the
    versions installed now (a reinstall). Raises UvError with uv's reason on failure.
    """
    env = paths.env_dir(root, name)
    staged = os.path.join(paths.staging_dir(root), f"{name}.{store.random_suffix(8)}")
    invoked = script.ident.invoked
    try:
        python = _python_for(script, env, uv_bin)
        _run(uv.venv_argv(uv_bin, staged, python=python), staged, invoked, "create")
        if script.block is not None:
            keep = {} if (upgrade and not packages) or script.locked else _pins(env, packages)
            if keep:
                # uv prefers the versions installed in the environment it syncs: installing
                # today's versions first makes the resolution below keep them.
                pins = [f"{pkg}=={version}" for pkg, version in keep.items()]
                uv.capture(uv.pip_install_argv(uv_bin, staged, pins), staged)
                # A version no index offers any more is resolved afresh by the sync.
            extra = ["--upgrade"] if upgrade and not packages else []
            for package in packages:
                extra += ["--upgrade-package", package]
            argv = uv.sync_argv(uv_bin, script.ident.path, python=None, quiet=1, verbose=0)
            _run([*argv, *extra], staged, invoked, "resolve or install")
        envbuild.finish(root, staged, script, uv_bin, uv.version(uv_bin), compile_now=True)
    except BaseException:
        discard(root, staged)
        raise
    return staged


def _python_for(script: Script, env: str, uv_bin: str) -> str | None:
    """The interpreter the environment has now, while requires-python still admits it."""
    current = venv.base_python(env)
    spec = script.meta().requires_python if script.block is not None else None
    if current is not None and (not spec or envbuild.admits(spec, venv.python_version(env))):
        return current
    return envbuild.find_python(script, uv_bin) or spec


def _pins(env: str, upgrading: tuple[str, ...]) -> dict[str, str]:
    skip = {venv.normalize(p) for p in upgrading} | venv.direct_urls(env)
    return {pkg: v for pkg, v in venv.installed(env).items() if pkg not in skip}


def _run(argv: list[str], staged: str, invoked: str, what: str) -> None:
    rc, err = uv.capture(argv, staged)
    if rc != 0:
        raise UvError(
            f"{invoked}: uv could not {what} the new environment: {uvoutput.reason(err, rc)}"
        )


def swap_in(root: str, name: str, staged: str) -> None:
    """Put ``staged`` in place of the environment; keep the one it replaces for rollback.

    Call with the environment's lock held. Each step is one rename; a kill between two
    leaves the environment missing and the previous one present, which
    ``restore_interrupted_swap`` undoes.
    """
    env = paths.env_dir(root, name)
    previous = paths.previous_env(root, name)
    try:
        use = _quiet_moment(root, name)
    except BaseException:
        discard(root, staged)
        raise
    try:
        if os.path.lexists(previous):
            discard(root, previous)
        if os.path.lexists(env):
            os.replace(env, previous)
        os.replace(staged, env)
        _forget_warm(root, name)
    finally:
        use.release()


def roll_back(root: str, name: str) -> None:
    """Swap the environment with its previous generation; call with its lock held."""
    env = paths.env_dir(root, name)
    previous = paths.previous_env(root, name)
    if stamp.read(paths.stamp_path(previous)) is None:
        raise UvlaunchError(
            f"{name}: no earlier generation to roll back to "
            "(one is kept by `uvlaunch upgrade` and `uvlaunch reinstall`)"
        )
    aside = os.path.join(paths.staging_dir(root), f"{name}.{store.random_suffix(8)}")
    use = _quiet_moment(root, name)
    try:
        if os.path.lexists(env):
            os.replace(env, aside)
        os.replace(previous, env)
        if os.path.lexists(aside):
            os.replace(aside, previous)  # rolling back again re-applies the upgrade
        _forget_warm(root, name)
    finally:
        use.release()


SWAP_WAIT = 30.0  # seconds a swap waits for the scripts running in the environment


def _quiet_moment(root: str, name: str) -> locks.Lock:
    """The environment's use lock, taken exclusively (release it): no script is running.

    A script that started in the environment holds the use lock (shared) until it
    exits; renaming environments under it would pull files from under its imports. So a
    swap waits, up to SWAP_WAIT seconds, for a moment when none runs (launches that come
    meanwhile wait the few milliseconds of the swap), and else gives up with one line.
    """
    import time

    use = locks.Lock(paths.use_lock_path(root, name))
    deadline = time.monotonic() + SWAP_WAIT
    while not use.acquire(blocking=False):
        if time.monotonic() > deadline:
            raise UvlaunchError(
                f"{name}: a running script is using the environment; try again once it has exited"
            )
        time.sleep(0.005)
    return use


def _forget_warm(root: str, name: str) -> None:
    # The warm record vouched for the environment that was in place: the one swapped in
    # may have been synced for another block (a rollback after an edit), so the next
    # start goes the checking way, which writes a new record if all is right.
    rec = records.read_record(root, name)
    if rec is not None:
        warm.discard(root, rec.dev, rec.ino, name)


def has_previous(root: str, name: str) -> bool:
    """Whether ``rollback`` would find a complete earlier generation of ``name``."""
    return stamp.read(paths.stamp_path(paths.previous_env(root, name))) is not None


def restore_interrupted_swap(root: str, name: str) -> None:
    """After a kill between a swap's renames: put the previous generation back in place."""
    env = paths.env_dir(root, name)
    previous = paths.previous_env(root, name)
    if not os.path.lexists(env) and os.path.isdir(previous) and not os.path.islink(previous):
        os.replace(previous, env)


def discard(root: str, path: str) -> None:
    """Delete a staged or previous generation (through the trash, so a kill leaves no half)."""
    trashed = store.to_trash(root, path)
    if trashed is not None:
        store.delete_tree(trashed, within=root)
