"""Facts about a virtual environment on disk: its Python, packages, state and size.

Read by launching, building, ``list``, ``show`` and gc alike; nothing here changes an
environment. Imports nothing beyond ``os`` and ``sys`` (a first launch loads it).
"""

from __future__ import annotations

import os

from uvlaunch.building.bytecode import site_packages as site_packages
from uvlaunch.home import paths


def pyvenv_value(env: str, *keys: str) -> str:
    """The first of ``keys`` found in the environment's pyvenv.cfg, or ""."""
    try:
        with open(os.path.join(env, "pyvenv.cfg"), encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() in keys:
                    return value.strip()
    except (OSError, UnicodeDecodeError):
        pass
    return ""


def python_version(env: str) -> str:
    """The Python version recorded in the environment's pyvenv.cfg, or ""."""
    return pyvenv_value(env, "version_info", "version")


def base_python(env: str) -> str | None:
    """The real interpreter behind the environment's ``python``, if it still exists."""
    python = os.path.realpath(paths.env_python(env))
    return python if os.path.isfile(python) and python != paths.env_python(env) else None


def interpreter_link(env: str) -> str:
    """What ``env``'s ``python`` links to, for people: past the source's ``python`` of a
    thin generation (building/thin.py) to the interpreter itself. OSError when no link."""
    python = paths.env_python(env)
    target = os.readlink(python)
    there = os.path.join(os.path.dirname(python), target)
    if os.path.basename(target) == os.path.basename(python) and os.path.isfile(
        os.path.join(os.path.dirname(os.path.dirname(there)), "pyvenv.cfg")
    ):
        try:
            return os.readlink(there)  # another environment's python: its link
        except OSError:
            pass
    return target


def running_version(python: str) -> str | None:
    """The version the interpreter ``python`` reports when started, or None if it fails."""
    import subprocess

    code = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
    try:
        out = subprocess.run(
            [python, "-I", "-c", code], capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    version = out.stdout.strip()
    return version if out.returncode == 0 and version else None


def is_intact(env: str) -> bool:
    """Whether the environment has its pyvenv.cfg and a working ``python`` link."""
    return os.path.isfile(os.path.join(env, "pyvenv.cfg")) and os.path.exists(paths.env_python(env))


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    out = name.lower().replace("_", "-").replace(".", "-")
    while "--" in out:
        out = out.replace("--", "-")
    return out


def dist_infos(env: str) -> list[tuple[str, str]]:
    """(site-packages directory, ``*.dist-info`` entry) for each installed distribution."""
    found = []
    for top in site_packages(env):
        try:
            entries = os.listdir(top)
        except OSError:
            continue
        found += [(top, entry) for entry in entries if entry.endswith(".dist-info")]
    return found


def installed(env: str) -> dict[str, str]:
    """The distributions installed in the environment: normalized name -> version."""
    found: dict[str, str] = {}
    for _, entry in dist_infos(env):
        name, _, version = entry[: -len(".dist-info")].partition("-")
        if name and version:
            found[normalize(name)] = version
    return dict(sorted(found.items()))


def direct_urls(env: str) -> set[str]:
    """Names of distributions installed from a URL, path or VCS (PEP 610), not an index."""
    return {
        normalize(entry.partition("-")[0])
        for top, entry in dist_infos(env)
        if os.path.exists(os.path.join(top, entry, "direct_url.json"))
    }


def usage(top: str) -> tuple[int, int]:
    """(bytes used under ``top``, bytes that deleting it would free), hard links once.

    A file with more than one link is shared with uv's cache or another environment
    (uv never hard-links files within one environment), so deleting ``top`` frees
    nothing of it; except a ``.pyc`` file with two, this one and the home's ``pyc/``
    store's (bytecode.py): gc deletes the store's once no environment links it.
    """
    seen: set[tuple[int, int]] = set()
    total = own = 0
    stack = [top]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            size = getattr(st, "st_blocks", 0) * 512 or st.st_size
            total += size
            if (
                st.st_nlink == 1
                or (st.st_nlink == 2 and entry.name.endswith(".pyc"))
                or entry.is_dir(follow_symlinks=False)
            ):
                own += size
    return total, own
