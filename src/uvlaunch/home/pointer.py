"""Which generation of an environment is current, and which one is kept for rollback.

An environment is a directory, ``envs/<name>/``, holding its generations (``g1/``,
``g2/``, ...: each a complete virtual environment, built at that path and never moved)
and two pointers, symlinks whose target is one generation's name:

    envs/<name>/current  -> g3    what launches start
    envs/<name>/previous -> g2    what ``rollback`` makes current again
    envs/<name>/spare    -> g4    after an edit: the next edit's, made ahead (spare.py)

A pointer is replaced by renaming a new symlink over it, so a flip is one atomic step,
whatever the number of running scripts. Both launchers (launcher.c too) read
``current``, then start the generation's own interpreter, ``envs/<name>/g3/bin/python``:
a script keeps its generation as its ``sys.prefix`` when the pointer moves on. Editors
may use ``envs/<name>/current/bin/python``, which follows every flip.

Imported on the warm fast path: ``os`` only.
"""

from __future__ import annotations

import os

from uvlaunch import contract
from uvlaunch.home import paths

CURRENT = "current"
PREVIOUS = "previous"
SPARE = "spare"  # the next edit's generation, made ahead (building/spare.py)
MAX_DIGITS = contract.MAX_GENERATION  # g1 to g999999999
KEY_DIGITS = contract.VARIANT_DIGITS


def is_variant(variant: str) -> bool:
    """Whether ``variant`` names a variant: "" (the first one built) or "-" and hex digits.

    Each interpreter (machine) that launches a script gets a variant of its environment,
    with its own pair of pointers, ``current<variant>`` and ``previous<variant>``
    (machines.py); all share the directory and the numbering of generations.
    """
    key = variant[1:]
    return variant == "" or (
        variant[:1] == "-" and len(key) == KEY_DIGITS and all(c in "0123456789abcdef" for c in key)
    )


def entries(root: str, name: str) -> list[str] | None:
    """What ``envs/<name>/`` holds, read once for ``variants`` and ``generations`` (list
    and gc ask both of 10,000 environments); None when it cannot be read."""
    try:
        return os.listdir(paths.env_dir(root, name))
    except OSError:
        return None


def variants(root: str, name: str, held: list[str] | None = None) -> list[str]:
    """The variants of ``name`` that have a ``current`` pointer: "" first, then by key.

    ``held``: what ``entries`` returned, when the caller has read it already."""
    held = entries(root, name) if held is None else held
    found = [e[len(CURRENT) :] for e in held or () if e.startswith(CURRENT)]
    return sorted(v for v in found if is_variant(v))


def is_generation(text: str) -> bool:
    """Whether ``text`` names a generation: ``g`` and a number (no sign, no leading zero)."""
    digits = text[1:]
    return (
        text[:1] == "g"
        and 0 < len(digits) <= MAX_DIGITS
        and digits.isascii()
        and digits.isdigit()
        and digits[0] != "0"
    )


def number(generation: str) -> int:
    return int(generation[1:])


def target(root: str, name: str, which: str = CURRENT) -> str | None:
    """The generation the pointer ``which`` of ``name`` names, or None."""
    try:
        found = os.readlink(os.path.join(paths.env_dir(root, name), which))
    except (OSError, ValueError):
        return None
    return found if is_generation(found) else None


def read(
    root: str, name: str, variant: str = "", held: list[str] | None = None
) -> tuple[str | None, str | None]:
    """(current generation, generation kept for rollback) of ``name``; None where none.

    Read without a lock, the two may come from either side of a flip: only what holds
    the environment's lock (which every flip holds) may act on both together. ``held``:
    as ``variants``; a pointer not in it is not looked for.
    """
    current = target(root, name, CURRENT + variant)
    previous = None
    if held is None or PREVIOUS + variant in held:
        previous = target(root, name, PREVIOUS + variant)
    return current, None if previous == current else previous


def pointed(root: str, name: str) -> set[str]:
    """Every generation of ``name`` that a pointer of any variant names."""
    found: set[str] = set()
    for variant in variants(root, name) or [""]:
        found.update(g for g in read(root, name, variant) if g is not None)
    found.update(g for g in [target(root, name, PREVIOUS)] if g is not None)
    return found


def spared(root: str, name: str, held: list[str] | None = None) -> set[str]:
    """The generations of ``name`` that a spare pointer of any variant names and no
    other pointer does: the next edit's, made ahead (building/spare.py; one a current or
    rollback pointer names is that, whatever else names it). ``held``: as ``variants``."""
    held = entries(root, name) if held is None else held
    named = (target(root, name, e) for e in held or () if e.startswith(SPARE))
    found = {g for g in named if g is not None}
    return found - pointed(root, name) if found else found


def current(root: str, name: str, variant: str = "") -> str | None:
    """The directory of the current generation of ``name``, or None when there is none."""
    generation = target(root, name, CURRENT + variant)
    return None if generation is None else paths.generation_dir(root, name, generation)


def point(root: str, name: str, which: str, generation: str | None) -> None:
    """Make the pointer ``which`` of ``name`` name ``generation`` (None: remove it).

    One rename of a new symlink made in the home's ``tmp/``: a reader sees the old
    target or the new one, never neither.
    """
    link = os.path.join(paths.env_dir(root, name), which)
    if generation is None:
        try:
            os.unlink(link)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise _unchanged(root, name, which, "cannot remove it", e) from None
        return
    assert is_generation(generation), generation
    tmp = os.path.join(paths.tmp_dir(root), f"{name}.{which}.{os.urandom(8).hex()}")
    try:
        os.symlink(generation, tmp)
    except OSError as e:
        raise _unchanged(root, name, which, f"cannot make it name {generation}", e) from None
    try:
        os.replace(tmp, link)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # tmp/ is swept by gc
        if isinstance(e, OSError):
            raise _unchanged(root, name, which, f"cannot make it name {generation}", e) from None
        raise


def _unchanged(root: str, name: str, which: str, what: str, error: OSError) -> Exception:
    """A pointer that could not change, in one line: it is as it was, and names this."""
    from uvlaunch.errors import HomeError  # not on the warm path, which only reads pointers

    before = target(root, name, which)
    state = f"it still names {before}" if before else "it is still absent"
    link = os.path.join(paths.env_dir(root, name), which)
    return HomeError(f"{link}: {what}: {error.strerror or error}; {state}")


def generations(root: str, name: str, held: list[str] | None = None) -> list[str]:
    """The generations present in ``envs/<name>/``, oldest first (``held``: as ``variants``)."""
    held = entries(root, name) if held is None else held
    return sorted((e for e in held or () if is_generation(e)), key=number)


def next_generation(root: str, name: str) -> str:
    """The name for a new generation of ``name``: one past the highest present."""
    present = generations(root, name)
    return f"g{number(present[-1]) + 1}" if present else "g1"
