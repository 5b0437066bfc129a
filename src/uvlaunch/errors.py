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


class CommandError(UvlaunchError):
    """A command given to ``exec`` cannot be started.

    ``status`` is the one shells and ``env`` exit with: 127 when the command is not
    found, 126 when it is found but cannot be executed.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
