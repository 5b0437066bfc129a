"""The errors uvlaunch shows to users: each carries one full sentence."""

from __future__ import annotations


class UvlaunchError(Exception):
    """A problem the user can fix; shown as one line on stderr, exit status 2."""


class ScriptError(UvlaunchError):
    """The script file itself is unusable (missing, unreadable, malformed block)."""


class UvError(UvlaunchError):
    """uv is missing, too old, or failed."""


class HomeError(UvlaunchError):
    """uvlaunch's home cannot be used."""


class UnknownEnvironmentError(UvlaunchError):
    """A name or path given to a command matches no managed environment."""
