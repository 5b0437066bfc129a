"""Which existing generation a script's first build could be: the decision sharing needs.

A copy of a script (another worktree, another experiment folder) has its own identity
and so its own environment; but when its block is the one another environment of this
home was resolved from, under the same settings, uv would resolve it to the same set.
The *resolution key* says what a resolution depended on: the block (and what its
relative paths resolve to, and its lock file), uv (its binary, by path and signature), this
machine's platform, and the settings uv reads besides the block: its ``UV_*``
variables, ``PATH`` (which interpreters uv finds first) and the configuration files it
would read. Each generation records the key it was built under,
``envs/<name>/g<N>/uvlaunch-resolution`` (written before the stamp; this module owns
it), and the home's resolution index notes it once the generation is complete
(home/keyindex.py); ``match`` finds through that index a complete generation of this
home, current for some environment and usable on this machine, with the same key and a
content identity (content.py): what a first launch asks before it builds (thin.py).
"""

from __future__ import annotations

import os

from uvlaunch.building import content, machines
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import keyindex, paths, pointer, stamp, store, trust
from uvlaunch.scripts.script import Script

MAGIC = "uvlaunch-resolution 1"
NAME = "uvlaunch-resolution"
# Where uv reads configuration from besides the block (uv's docs, "Configuration files").
CONFIG_NAMES = ("uv.toml", "pyproject.toml")


def path_of(generation: str) -> str:
    return os.path.join(generation, NAME)


def resolution_key(script: Script, uv_bin: str, environ: dict[str, str]) -> str:
    """What ``script``'s block resolves to here and now depends on, as a key (64 hex)."""
    parts = [
        f"block {script.block!r}",
        f"resolved {script.resolved()}",
        f"lock {script.lock_hash}",
        # The binary, not its version: asking it costs a process on a first launch.
        f"uv {uv_bin} {stamp.file_signature(uv_bin)}",
        f"platform {machines.platform_tag()}",
        f"PATH {environ.get('PATH', '')}",
    ]
    parts += sorted(f"env {k}={v}" for k, v in environ.items() if k.startswith("UV_"))
    parts += [f"config {p} {stamp.file_signature(p)}" for p in config_files(script, environ)]
    return store.sha256_hex("\n".join(parts).encode("utf-8", "surrogateescape"))


def config_files(script: Script, environ: dict[str, str]) -> list[str]:
    """The configuration files uv may read for this script: the user's and the system's,
    and those in the script's directory and the current one, and above them."""
    if environ.get("UV_NO_CONFIG"):
        return []
    found = []
    home = environ.get("HOME", "")
    xdg = environ.get("XDG_CONFIG_HOME") or (os.path.join(home, ".config") if home else "")
    dirs = [os.path.join(xdg, "uv")] if xdg else []
    dirs += [os.path.join(d, "uv") for d in environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")]
    dirs.append("/etc/uv")
    for start in (os.path.dirname(script.ident.path), os.getcwd()):
        here = start
        while True:
            dirs.append(here)
            up = os.path.dirname(here)
            if up == here:
                break
            here = up
    for d in dict.fromkeys(dirs):
        found += [os.path.join(d, n) for n in CONFIG_NAMES if os.path.exists(os.path.join(d, n))]
    return found


def record(root: str, generation: str, key: str) -> None:
    """Note that ``generation`` was built for the resolution ``key`` (before its stamp)."""
    data = f"{MAGIC}\n{key}\n".encode()
    store.write_atomic(root, path_of(generation), data, durable=False)


def read(generation: str) -> str | None:
    """The resolution key ``generation`` was built under, or None."""
    try:
        with open(path_of(generation), encoding="utf-8") as f:
            lines = f.read(256).split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    if len(lines) < 2 or lines[0] != MAGIC or len(lines[1]) != 64:
        return None
    return lines[1]


def match(root: str, key: str, *, besides: str) -> str | None:
    """A complete generation of this home built for the resolution ``key``, current for
    an environment other than ``besides``, ours, trusted and usable on this machine; its
    path, or None.

    Found through the resolution index (home/keyindex.py), one entry, not by reading
    every environment; what the entry names is checked here as a scan would have."""
    generation = keyindex.read(root, key)
    if generation is None:
        return None
    env_dir = os.path.dirname(generation)
    name = os.path.basename(env_dir)
    if name == besides:
        return None
    current = [pointer.current(root, name, v) for v in pointer.variants(root, name)]
    if generation not in current:
        return None  # upgraded away, rolled back, removed: stale
    if trust.env_problem(env_dir, generation) is not None:
        return None
    return generation if _fits(generation, key) else None


def index(root: str, generation: str, key: str) -> None:
    """Note in the resolution index that ``generation`` (complete, its own) was built
    for ``key``; a home that cannot take the note only shares less."""
    try:
        keyindex.write(root, key, generation)
    except (OSError, UvlaunchError):
        pass


def _fits(generation: str, key: str) -> bool:
    if read(generation) != key or content.read(generation) is None:
        return False
    if stamp.read(paths.stamp_path(generation)) is None:
        return False  # not complete
    try:
        st = os.lstat(generation)
    except OSError:
        return False
    # One owner, no one else's writes (trust.py), this machine's interpreter.
    if trust.dir_problem(generation) is not None or st.st_uid != os.geteuid():
        return False
    return machines.usable(generation)
