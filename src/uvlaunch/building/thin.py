"""A copy's first generation without a build: thin, on another environment's packages.

When a first build's block would resolve as another environment's current generation
was resolved (shared.match), the new generation is made *thin* instead of built: a real
directory of its own environment, so that its path, ``where``, its stamp, use lock,
pointers, upgrade and rollback stay its own, holding

- ``pyvenv.cfg`` and ``bin/`` with hard links to the source's files: the
  interpreter's other symlinks (the links themselves) and the rest (entry points: their
  shebangs name the source's interpreter, the path where uv installed them), but for
  ``python``, a symlink to the source's (a warm start then cannot start a copy whose
  source was deleted by hand), and ``activate``, its own few lines that source the
  source's and name this generation as VIRTUAL_ENV;
- ``lib/pythonX.Y/site-packages``, a symlink to the source's;
- ``uvlaunch-content`` and ``uvlaunch-resolution`` (hard links: the same contents) and
  ``uvlaunch-shared`` (which generation it is built on; home/sharers.py, which also
  notes the reference on the source's side).

The script runs with ``sys.prefix`` its own generation's path. Nothing writes into a
source through a thin generation: upgrades, reinstalls and edits build a generation of
their own (generations.build, envbuild._edit), and ``exec`` gives the script a
private generation first (manage/sharing.py). gc and remove keep a source while a thin
generation refers to it (``generations.delete_unused`` asks ``sharers.referrers``).
"""

from __future__ import annotations

import os

from uvlaunch.building import content, shared, venv
from uvlaunch.errors import UvlaunchError
from uvlaunch.home import locks, paths, sharers, stamp
from uvlaunch.scripts.script import Script
from uvlaunch.uv import calls as uv

# Sharing is on unless the user switches it off (every copy then builds its own).
SWITCH = "UVLAUNCH_SHARE"
OFF = ("0", "no", "false")


def share(root: str, new: str, script: Script, uv_bin: str) -> str | None:
    """Make the empty new generation ``new`` a thin one on a generation of another
    environment that matches ``script``; the version of the uv that built that one.
    None when none matches (build as usual); ``new`` is then untouched."""
    if os.environ.get(SWITCH, "").strip().lower() in OFF:
        return None
    name = os.path.basename(os.path.dirname(new))
    key = shared.resolution_key(script, uv_bin, dict(os.environ))
    found = shared.match(root, key, besides=name)
    if found is None:
        return None
    source = _source(root, found)
    if source is None or os.path.dirname(source) == os.path.dirname(new):
        return None
    # Held while the reference is made: gc deletes a generation only under its use lock
    # taken exclusively, and then sees the reference (sharers.py).
    lock = locks.Lock(paths.generation_lock_path(source), shared=True)
    try:
        if not lock.acquire(blocking=False):
            return None
    except OSError:
        return None  # deleted meanwhile
    try:
        old = stamp.read(paths.stamp_path(source))
        if old is None or content.read(source) is None:
            return None
        ref = None
        try:
            # The thin side first: the reference is a hard link of it (no inode of its own).
            sharers.write_source(root, new, source)
            ref = sharers.add(root, source, new)
            _lay_out(source, new)
        except BaseException as e:
            if ref is not None:
                sharers.drop(ref)
            _clear(new)
            if isinstance(e, (OSError, UvlaunchError)):
                return None  # a full disk, a source gone meanwhile: built as usual
            raise
    except OSError:
        return None  # the reference could not be made: built as usual
    finally:
        lock.release()
    return uv.check_recorded(uv_bin, venv.pyvenv_value(new, "uv"))


def _source(root: str, generation: str) -> str | None:
    """The generation that holds ``generation``'s packages: itself, or what it shares."""
    found = sharers.source_of(generation)
    if found is None:
        return generation
    source = paths.generation_dir(root, *found)
    return source if sharers.source_of(source) is None and os.path.isdir(source) else None


def _lay_out(source: str, new: str) -> None:
    # The same file: it names no generation's path, and nothing writes into a thin
    # generation's (an upgrade, an edit, exec build a generation of their own).
    os.link(os.path.join(source, "pyvenv.cfg"), os.path.join(new, "pyvenv.cfg"))
    bin_from, bin_to = paths.env_bin(source), paths.env_bin(new)
    os.mkdir(bin_to, 0o755)
    python = os.path.basename(paths.env_python(source))
    for entry in sorted(os.listdir(bin_from)):
        here, there = os.path.join(bin_from, entry), os.path.join(bin_to, entry)
        if entry == python and os.path.islink(here):
            # A link to the source's link, not a copy of it: once the source is gone
            # (deleted by hand), the warm starts' check of the interpreter, a stat
            # through this link (native/launcher.c, fastpath.py), fails and hands the
            # start to the slow path, which rebuilds (intact) instead of running the
            # script without its packages. Python still finds pyvenv.cfg beside this one.
            # Relative: short enough to live in the inode, no block of its own.
            os.symlink(os.path.relpath(here, bin_to), there)
        elif os.path.islink(here):
            try:
                # The link itself, hard-linked: no inode of its own. Its target is the
                # base interpreter or a name beside it, the same from either bin/.
                os.link(here, there, follow_symlinks=False)
            except OSError:
                os.symlink(os.readlink(here), there)
        elif os.path.isfile(here) and not _own_copy(here, there, source, new):
            os.link(here, there)
    for site in venv.site_packages(source):
        inside = os.path.relpath(site, source)
        os.makedirs(os.path.dirname(os.path.join(new, inside)), 0o755, exist_ok=True)
        os.symlink(site, os.path.join(new, inside))
    # Not lib64 (uv's link for tools that look there; Python does not), nor uv's
    # .gitignore and CACHEDIR.TAG: every inode counts a hundred times over.
    os.link(content.path_of(source), content.path_of(new))
    os.link(shared.path_of(source), shared.path_of(new))  # the key it matched


ACTIVATE = """\
# uvlaunch (building/thin.py): the activate script of the generation whose packages this
# one shares, with VIRTUAL_ENV and PATH naming this generation instead.
. '{source}/bin/activate'
VIRTUAL_ENV='{new}'
export VIRTUAL_ENV
PATH="$VIRTUAL_ENV/bin:${{PATH#'{source}/bin:'}}"
export PATH
hash -r 2>/dev/null
"""


def _own_copy(here: str, there: str, source: str, new: str) -> bool:
    """Write ``there``, ``activate`` (bash, zsh: ``source WHERE/bin/activate``), as a
    few lines that source ``here`` and name ``new``; whether it was.

    Only that one, and small: each file is an inode and a block, and a copy may cost 20
    and 64 KiB (issue 30); uv's own is over 4 KiB. The other shells' (.csh, .fish, .nu,
    .bat) stay the source's, naming the source's generation, whose packages are the same."""
    if os.path.basename(here) != "activate" or "'" in source + new:
        return False
    fd = os.open(there, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, os.stat(here).st_mode & 0o755)  # as uv made it, not our umask
        f.write(os.fsencode(ACTIVATE.format(source=source, new=new)))
    return True


def _clear(new: str) -> None:
    """Empty the new generation again (symlinks unlinked, never followed)."""
    import shutil

    try:
        entries = os.listdir(new)
    except OSError:
        return
    for entry in entries:
        path = os.path.join(new, entry)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError:
            pass  # what stays, uv's venv meets; failing there says why


def intact(generation: str) -> bool:
    """Whether a thin generation still finds the packages it shares (a generation of its
    own always does)."""
    if sharers.source_of(generation) is None:
        return True
    return all(os.path.isdir(p) for p in _site_links(generation)) and bool(_site_links(generation))


def _site_links(generation: str) -> list[str]:
    top = os.path.join(generation, "lib")
    try:
        return [os.path.join(top, d, "site-packages") for d in os.listdir(top)]
    except OSError:
        return []
