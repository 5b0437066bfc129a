"""What the click commands share: one-line errors, and words for sizes and counts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import click

from uvlaunch.errors import CommandError, UvlaunchError, printable, unexpected

T = TypeVar("T")


def notify(message: str) -> None:
    say(f"uvlaunch: {message}", err=True)


def say(line: str, *, err: bool = False) -> None:
    """Print one line, its control characters escaped (errors.printable): a file name
    with a newline or an escape sequence in it can neither forge a row nor reach the
    terminal raw."""
    click.echo(printable(line), err=err)


def say_path(path: str, *, instead: str) -> None:
    """Print ``path`` alone on stdout, for a shell (``$(uvlaunch where s.py)``) or an editor
    to use as it is. A path with a character ``say`` would escape (a newline, an escape
    sequence) is not printed, escaped or raw: escaped it is another path, raw it would
    reach the terminal. It is refused in one line, which says what to use ``instead``."""
    if printable(path) != path:
        fail(
            UvlaunchError(
                f"{printable(path)}: has control characters in its name; printed, it would "
                f"not be this path; {instead}"
            )
        )
    click.echo(path)


def say_lines(lines: list[str]) -> None:
    """``say`` each line, written at once: ``list`` prints 10,000 rows, and a write (and
    click's checks) per row cost a tenth of its time."""
    if lines:
        click.echo("\n".join(printable(line) for line in lines))


def fail(error: UvlaunchError, *, as_json: bool = False) -> NoReturn:
    """Say ``error`` in one line on stderr (and as ``{"error": ...}`` on stdout for
    ``--json``, so that a program reading stdout gets JSON either way), then exit."""
    if as_json:
        click.echo(json.dumps({"error": str(error)}, indent=2))
    say(f"uvlaunch: error: {error}", err=True)
    sys.exit(error.status if isinstance(error, CommandError) else 2)


def guard(fn: Callable[[], T], *, as_json: bool = False) -> T:
    """``fn()``, with a UvlaunchError turned into one line on stderr and status 2.

    An OSError too, as a last resort (``errors.unexpected``): each layer converts its
    own where they arise, saying what state they leave, but none may reach the user as
    a traceback.
    """
    try:
        return fn()
    except UvlaunchError as e:
        fail(e, as_json=as_json)
    except OSError as e:
        fail(unexpected(e), as_json=as_json)


def count(n: int, word: str) -> str:
    """``1 environment``, ``2 environments``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def human_size(size: int) -> str:
    """A size such as ``12.3 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
