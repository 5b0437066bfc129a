"""Whether an environment still has what its script needs, for ``show``.

A package deleted by hand (its directory, or its ``.dist-info`` through another tool)
leaves an environment that looks complete: its stamp is there, and launches skip uv.
Only ``reinstall`` repairs it, so ``show`` looks: every requirement of the block the
environment was synced for, and what those require in turn (markers evaluated for the
environment's Python), must be installed, with every file its RECORD lists.
"""

from __future__ import annotations

import os
import sys
from email.parser import HeaderParser

from uvlaunch.building import venv


def problems(env: str, block: str | None) -> list[str]:
    """What is missing from ``env`` that the block ``block`` needs, one phrase each."""
    if block is None:
        return []
    from packaging.markers import default_environment
    from packaging.requirements import InvalidRequirement, Requirement

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        wanted = [Requirement(d) for d in tomllib.loads(block).get("dependencies", [])]
    except (ValueError, TypeError, InvalidRequirement):
        return []  # a block that does not parse was never synced: nothing to compare
    markers = {key: str(value) for key, value in default_environment().items()}
    version = venv.python_version(env)
    if version:
        markers.update(python_full_version=version, python_version=".".join(version.split(".")[:2]))
    dist_infos = _dist_infos(env)
    found: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    while wanted:
        req = wanted.pop()
        name = venv.normalize(req.name)
        extras = sorted(req.extras) or [""]
        if req.marker is not None and not any(
            req.marker.evaluate({**markers, "extra": e}) for e in extras
        ):
            continue
        if name not in dist_infos:
            found[name] = f"{req.name} is not installed"
            continue
        for extra in ["", *req.extras]:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            for text in _requires(dist_infos[name]):
                try:
                    sub = Requirement(text)
                except InvalidRequirement:
                    continue
                if sub.marker is None or sub.marker.evaluate({**markers, "extra": extra}):
                    sub.marker = None  # evaluated for the extra that brought it in
                    wanted.append(sub)
    for name, _ in seen:
        if name not in found:
            missing = _missing_file(dist_infos[name])
            if missing is not None:
                found[name] = f"{name}'s files are missing ({missing})"
    return [found[name] for name in sorted(found)]


def _dist_infos(env: str) -> dict[str, str]:
    """Normalized name -> path of its ``.dist-info`` directory."""
    out: dict[str, str] = {}
    for top in venv.site_packages(env):
        try:
            entries = os.listdir(top)
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".dist-info"):
                out[venv.normalize(entry.partition("-")[0])] = os.path.join(top, entry)
    return out


def _requires(dist_info: str) -> list[str]:
    try:
        with open(os.path.join(dist_info, "METADATA"), encoding="utf-8") as f:
            headers = HeaderParser().parse(f)
    except (OSError, UnicodeDecodeError):
        return []
    return headers.get_all("Requires-Dist") or []


def _missing_file(dist_info: str) -> str | None:
    """The first file that the distribution's RECORD lists and that is gone, if any."""
    top = os.path.dirname(dist_info)
    import csv

    try:
        with open(os.path.join(dist_info, "RECORD"), encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    for row in rows:
        path = row[0] if row else ""
        if not path or "__pycache__" in path or path.endswith(".pyc"):
            continue  # byte-compiled files come and go (bytecode.py)
        if not os.path.lexists(os.path.join(top, path)):
            return path
    return None
