"""Sharing as the management commands see it: a private generation before ``exec``
(nothing shared changes through one script), and why gc and remove keep a generation.

A command run by ``uvlaunch exec`` may write into the environment (``uv pip install``,
``pip``, a tool that caches next to itself). When the script's current generation
shares its packages with other environments (it is thin, or others are thin on it:
building/thin.py), the script first gets a generation of its own, as ``reinstall``
builds one (the same versions, from uv's cache), and the command runs in that one. The
generation it leaves stays the others', and is the script's rollback.
"""

from __future__ import annotations

from uvlaunch.errors import UvlaunchError
from uvlaunch.home import sharers
from uvlaunch.home.env import Env
from uvlaunch.manage import upgrade


def shared_with(generation: str) -> list[str]:
    """The other environments' generations that share packages with ``generation``
    (``NAME/gN``): what it is built on, or what is built on it."""
    source = sharers.source_of(generation)
    if source is not None:
        return [f"{source[0]}/{source[1]}"]
    return sharers.referrers(generation)


def make_private(script: str) -> None:
    """Give the environment of ``script`` a generation of its own (``reinstall``), flipped
    to; UvlaunchError with the reason when it cannot."""
    report = upgrade.reinstall([script])
    for outcome in report.outcomes:
        if outcome.failed:
            raise UvlaunchError(
                f"{script}: its environment shares packages with other copies of the script, "
                f"and a private one could not be made for exec ({outcome.message}); "
                f"try `uvlaunch reinstall {script}`"
            )


def kept_reason(env: Env, generation: str, default: str) -> str:
    """Why gc or remove kept ``env``'s ``generation``: shared, or ``default`` (in use)."""
    others = sharers.referrers(env.generation(generation))
    if not others:
        return default
    return (
        f"other copies' environments share its packages ({', '.join(others)}); "
        "it goes once none does"
    )


def kept_in(name: str, generation: str, default: str) -> str:
    """``kept_reason`` in the home of this process (for ``remove``)."""
    from uvlaunch.home import store

    return kept_reason(Env(store.open_home(create=False), name), generation, default)


def before_exec(generation: str) -> None:
    """``generation`` may be changed by hand now (a private one, before ``exec``): it is
    no longer what it was resolved and built as, and no copy may share it (shared.py)."""
    import os

    from uvlaunch.building import content, shared

    for path in (shared.path_of(generation), content.path_of(generation)):
        try:
            os.unlink(path)
        except OSError:
            pass
