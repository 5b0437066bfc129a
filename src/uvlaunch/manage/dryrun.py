"""What an upgrade would do, as ``uv sync --upgrade --dry-run`` says: the versions it
would remove and install, uv's warnings, and whether uv could look at the index.

uv counts the versions installed in the environment among the candidates, so where
it cannot read a newer release it keeps the installed one, and says nothing unless
asked: offline (``UV_OFFLINE``, ``offline = true``), it answers from its cache without a
word, and a newer release it cannot read (an invalid wheel) is a warning shown only
with ``-v``. So the dry run runs with ``-v``: its ``WARN`` lines are relayed, and
"no changes" from a uv that could not look says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from uvlaunch.building import venv
from uvlaunch.errors import UvError
from uvlaunch.home.env import Env
from uvlaunch.scripts.script import Script
from uvlaunch.uv import calls as uv
from uvlaunch.uv import output as uvoutput

OFFLINE = "offline: only cached releases were considered"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LOG = re.compile(r"^\s*(TRACE|DEBUG|INFO|WARN)\s")  # uv's log lines under -v
_CONFIG = re.compile(r"(?:configuration from|configuration file): (.+?)\s*$")
_TRUE = ("1", "true", "t", "yes", "y", "on")  # what uv takes as true in a boolean variable


@dataclass(frozen=True)
class Plan:
    """What uv would change: ``name -> version`` removed and added, and what it said."""

    removed: dict[str, str]
    added: dict[str, str]
    warnings: tuple[str, ...]
    offline: bool  # uv could not look at an index: only cached releases were considered


def plan(env: Env, current: str, script: Script, uv_bin: str, packages: tuple[str, ...]) -> Plan:
    """Ask uv what upgrading ``env`` (its generation ``current``) of ``script`` would change.

    Raises UvError, with uv's reason, when uv cannot resolve (an index out of reach
    fails there: uv does not fall back when it cannot connect).
    """
    with script.for_uv(env.root) as given:
        argv = uv.sync_argv(uv_bin, given, python=None, quiet=0, verbose=1)
        argv += ["--dry-run"] + (["--upgrade"] if not packages else [])
        for package in packages:
            argv += ["--upgrade-package", package]
        rc, out = uv.capture(argv, current)
    lines = _ANSI.sub("", out).splitlines()
    report = [line for line in lines if not _LOG.match(line)]
    if rc != 0:
        why = uvoutput.reason("\n".join(report), rc)
        raise UvError(f"uv could not resolve an upgrade: {why}")
    removed: dict[str, str] = {}
    added: dict[str, str] = {}
    for line in report:
        line = line.strip()
        if line[:2] in ("- ", "+ "):
            name, _, version = line[2:].partition("==")
            if not version:
                name, _, version = line[2:].partition(" @ ")
            (removed if line[0] == "-" else added)[venv.normalize(name.strip())] = version.strip()
    return Plan(removed, added, _warnings(lines), _offline(lines))


def _warnings(lines: list[str]) -> tuple[str, ...]:
    """uv's warnings, each once: ``warning:`` lines, and ``WARN`` log lines.

    uv often logs one problem twice, naming the release, then the package
    ("`alpha==2.0` has an invalid ...", "alpha has an invalid ..."): said once.
    """
    found: list[str] = []
    said: set[tuple[str, str]] = set()
    for line in lines:
        text = line.strip()
        if text.startswith("WARN "):
            text = text[5:].strip()
        elif text.startswith("warning:"):
            text = text[8:].strip()
        else:
            continue
        first, _, rest = text.partition(" ")
        key = (venv.normalize(first.strip("`").partition("==")[0]), rest)
        if text and key not in said:
            said.add(key)
            found.append(text)
    return tuple(found)


def _offline(lines: list[str]) -> bool:
    """Whether uv worked offline while some source needs the network to be seen whole."""
    offline = os.environ.get("UV_OFFLINE", "").strip().lower() in _TRUE
    if not offline:
        # `offline = true` in a configuration file uv says (under -v) that it read.
        for line in lines:
            found = _CONFIG.search(line) if _LOG.match(line) else None
            if found is not None and _config_says_offline(found.group(1)):
                offline = True
                break
    if not offline:
        return False
    # With no index, and find-links that are all local directories, uv sees every
    # release there is, offline or not.
    no_index = os.environ.get("UV_NO_INDEX", "").strip().lower() in _TRUE
    links = os.environ.get("UV_FIND_LINKS", "").replace(",", " ").split()
    return not (no_index and all("://" not in link or link.startswith("file:") for link in links))


def _config_says_offline(path: str) -> bool:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, ValueError):
        return False
    if os.path.basename(path) == "pyproject.toml":
        data = data.get("tool", {}).get("uv", {})
    return data.get("offline") is True
