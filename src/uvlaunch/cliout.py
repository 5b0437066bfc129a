"""What the click commands share: one-line errors, and words for sizes and counts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import click

from uvlaunch.errors import UvlaunchError

T = TypeVar("T")


def notify(message: str) -> None:
    click.echo(f"uvlaunch: {message}", err=True)


def fail(error: UvlaunchError) -> NoReturn:
    click.echo(f"uvlaunch: error: {error}", err=True)
    sys.exit(2)


def guard(fn: Callable[[], T]) -> T:
    """``fn()``, with a UvlaunchError turned into one line on stderr and status 2."""
    try:
        return fn()
    except UvlaunchError as e:
        fail(e)


def count(n: int, word: str) -> str:
    """``1 environment``, ``2 environments``."""
    return f"{n} {word}" + ("" if n == 1 else "s")
