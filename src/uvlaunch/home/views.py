"""The names each view launched a script by: machines and containers see files apart.

A container and its host may see one script at two paths (``~/proj/job.py`` on the
host, ``/src/proj/job.py`` in the container), and the home at two paths too. The
record keeps, beside the name the file was last launched by, the names each *view*
(hosts.py: a machine, or a mount namespace such as a container) launched it by::

    "views": {"3f9a2c1d0b7e": ["/home/ada/proj/job.py"], "9c1e...": ["/src/proj/job.py"]}

A name known to any view that leads to the file keeps the script alive; gc keeps an
environment whose names lead nowhere here while another view launched it within the
grace (gc.py). Records without ``views`` (older uvlaunch) read as before.
"""

from __future__ import annotations

import os

from uvlaunch.home import hosts, paths

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable

    from uvlaunch.home.records import Record

MAX_VIEWS = 16  # views kept per record; the oldest go first
MAX_NAMES = 8  # names kept per view


def views_of(data: object) -> dict[str, tuple[str, ...]]:
    """The ``views`` of a record's JSON, what is well formed of it."""
    if not isinstance(data, dict):
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for key, names in data.items():
        if not (isinstance(key, str) and key.isalnum() and isinstance(names, list)):
            continue
        kept = tuple(paths.from_stored(n) for n in names if isinstance(n, str))
        if all(os.path.isabs(n) and os.path.normpath(n) == n for n in kept):
            found[key] = kept
    return found


def encode_views(views: dict[str, tuple[str, ...]], quote: Callable[[str], str]) -> str:
    """``views`` as JSON (the record's writer quotes each string)."""
    items = (
        f"{quote(key)}: [{', '.join(quote(paths.to_stored(n)) for n in names)}]"
        for key, names in views.items()
    )
    return "{" + ", ".join(items) + "}"


def mine(record: Record) -> tuple[str, ...]:
    """The names this view launched the record's script by."""
    return record.views.get(hosts.host_key(), ())


def with_name(record: Record, path: str) -> Record:
    """``record`` with ``path`` among this view's names (the same record if it is)."""
    key = hosts.host_key()
    names = record.views.get(key, ())
    if path in names:
        return record
    views = {k: v for k, v in record.views.items() if k != key}
    views[key] = (*names, path)[-MAX_NAMES:]
    views = dict(list(views.items())[-MAX_VIEWS:])
    return record.with_views(views)


def elsewhere(record: Record, path: str) -> bool:
    """Whether ``path`` is a name another view launched the script by, and not this one's."""
    key = hosts.host_key()
    return path not in record.views.get(key, ()) and any(
        path in names for k, names in record.views.items() if k != key
    )
