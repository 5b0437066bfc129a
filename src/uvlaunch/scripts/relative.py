"""What a block's relative paths resolve to: the block's meaning, not only its text.

uv resolves some settings of a script's block against the script's folder: a path
source (``[tool.uv.sources] mylib = { path = "mylib", editable = true }``, editable or
not, one source or a list with markers), ``find-links``, and an index given as a path
(``index-url``, ``extra-index-url``, ``[[tool.uv.index]] url``). The same block in
another folder (``mv proj proj2``, or the script moved alone) names other files, so the
stamp records what they resolve to (``Stamp.resolved``), and a launch whose script now
resolves them elsewhere builds a new generation, as an edit of the block does (facts.py).

Paths are made absolute and normalised, not followed: the stamp says which path uv was
given, as uv's own ``direct_url.json`` does. URLs (``scheme://``, ``file:``) and absolute
paths mean the same wherever the script is, and are left out.

Only a block with a ``[tool.uv]`` table is parsed, so a launch of any other script pays
nothing for this.
"""

from __future__ import annotations

import os


def resolved(block: str | None, script: str) -> str:
    """The block's relative path settings, resolved against the folder of ``script``
    (its resolved path, as uv is given it), one per line in the block's order; "" when
    there are none, or when uv could not read the block (uv then says why)."""
    if block is None or "tool" not in block:
        return ""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        tool = tomllib.loads(block).get("tool")
    except tomllib.TOMLDecodeError:
        return ""
    settings = tool.get("uv") if isinstance(tool, dict) else None
    if not isinstance(settings, dict):
        return ""
    folder = os.path.dirname(script)
    found: list[str] = []
    for value in _path_settings(settings):
        if _is_relative(value):
            path = os.path.normpath(os.path.join(folder, value))
            if path not in found:
                found.append(path)
    return "\n".join(found)


def _path_settings(settings: dict[str, object]) -> list[str]:
    """Every value of ``[tool.uv]`` that uv may take as a path, in the block's order."""
    out: list[str] = []
    sources = settings.get("sources")
    if isinstance(sources, dict):
        for source in sources.values():
            for one in source if isinstance(source, list) else [source]:
                if isinstance(one, dict):
                    out += _strings(one.get("path"))
    for key in ("find-links", "index-url", "extra-index-url"):
        out += _strings(settings.get(key))
    indexes = settings.get("index")
    if isinstance(indexes, list):
        for index in indexes:
            if isinstance(index, dict):
                out += _strings(index.get("url"))
    return out


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _is_relative(value: str) -> bool:
    if not value or os.path.isabs(value) or value.startswith(("~", "file:")):
        return False
    scheme, sep, _ = value.partition("://")
    return not (sep and scheme.replace("+", "").isalnum())
