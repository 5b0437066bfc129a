"""The environment handle: one environment of the home, and the one owner of "may I act here".

An ``Env`` is made once from the home, the environment's name and the variant (this
machine's pair of pointers, machines.py). Everything that builds, manages or launches
an environment takes the handle rather than ``(root, name)`` strings: its paths, its
pointers (pointer.py), its generations, its lock, and the check that comes before any
act inside it.

The check (``check``) is ssh's: the home's directories, ``envs/`` and ``envs/NAME``
itself must be real directories (``lstat``: no symlink), owned by the user running
uvlaunch, and not writable by group or others. It is made before anything is created
or written inside the environment (a generation reserved, a pointer made, a generation
deleted), and a generation is checked again right after ``mkdir`` made it. Between the
check and the act no other user can swap an entry: every directory on the way is the
user's own and writable by nobody else, so only the user (or root) could; that is
the window's whole argument, and why no directory descriptors are needed here.

Imported on the launch path: ``os`` and home modules only.
"""

from __future__ import annotations

import os

from uvlaunch.errors import HomeError
from uvlaunch.home import locks, paths, pointer, store, trust
from uvlaunch.home.names import is_safe_name

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable


class Env:
    """The environment ``name`` of the home ``root``, as seen through one ``variant``."""

    # A plain slotted class: dataclasses costs 12 ms of imports on the launch path.
    __slots__ = ("_checked", "dir", "name", "root", "variant")

    def __init__(self, root: str, name: str, variant: str = "") -> None:
        if not is_safe_name(name):
            raise HomeError(f"{name!r}: not an environment name uvlaunch makes")
        assert pointer.is_variant(variant), variant
        self.root = root
        self.name = name
        self.variant = variant
        self.dir = paths.env_dir(root, name)
        self._checked = False

    def __repr__(self) -> str:
        return f"Env({self.root!r}, {self.name!r}, {self.variant!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Env) and (self.root, self.name, self.variant) == (
            other.root,
            other.name,
            other.variant,
        )

    def __hash__(self) -> int:
        return hash((self.root, self.name, self.variant))

    def with_variant(self, variant: str) -> Env:
        """The same environment, seen through another variant's pointers."""
        other = Env(self.root, self.name, variant)
        other._checked = self._checked
        return other

    # -- paths and facts (reading acts on nothing) ---------------------------------

    def generation(self, generation: str) -> str:
        """The directory of the generation ``generation`` (``gN``): a virtual environment."""
        assert pointer.is_generation(generation), generation
        return paths.generation_dir(self.root, self.name, generation)

    def exists(self) -> bool:
        return os.path.lexists(self.dir)

    def is_planted(self) -> bool:
        """Whether ``envs/NAME`` is a symlink: nothing is ever done through it."""
        return os.path.islink(self.dir)

    def current(self) -> str | None:
        """This variant's current generation directory, or None."""
        return pointer.current(self.root, self.name, self.variant)

    def stable(self) -> str:
        """This variant's pointer as a path (``envs/NAME/current[-KEY]``): through every
        upgrade, reinstall, rollback and gc it leads to the current generation (``where``)."""
        return paths.current_link(self.root, self.name, self.variant)

    def target(self, which: str) -> str | None:
        """The generation the pointer ``which`` (``current-KEY``...) names, or None."""
        return pointer.target(self.root, self.name, which)

    def read(self) -> tuple[str | None, str | None]:
        """(current, kept for rollback) generations of this variant (pointer.read)."""
        return pointer.read(self.root, self.name, self.variant)

    def variants(self) -> list[str]:
        return pointer.variants(self.root, self.name)

    def pointed(self) -> set[str]:
        """Every generation a pointer of any variant names."""
        return pointer.pointed(self.root, self.name)

    def generations(self) -> list[str]:
        """The generations present, oldest first."""
        return pointer.generations(self.root, self.name)

    # -- may I act here -------------------------------------------------------------

    def problem(self) -> str | None:
        """Why uvlaunch may not act inside this environment, in one sentence; None if it may.

        A missing ``envs/NAME`` is no problem: whoever needs it creates it, 0700.
        """
        return trust.home_problem(self.root) or trust.dir_problem(self.dir)

    def check(self) -> None:
        """Raise HomeError unless uvlaunch may act inside this environment (``problem``)."""
        if self._checked:
            return
        found = self.problem()
        if found is not None:
            raise HomeError(found)
        if os.path.isdir(self.dir):
            self._checked = True  # a missing one is checked again once made

    def make_dir(self) -> None:
        """Create ``envs/NAME`` (0700) if it is missing, checked before and after."""
        self.check()
        if not os.path.isdir(paths.envs_dir(self.root)):
            _make_dir(paths.envs_dir(self.root), parents=True)
            self.check()  # envs/ made just now
        try:
            _make_dir(self.dir)
        except FileExistsError:
            pass
        self._checked = False
        self.check()

    def new_generation(self, mark: Callable[[str], None] | None = None) -> str:
        """Reserve the directory of a new generation; its path. Call with the lock held.

        Reserved by ``mkdir``, which one machine wins: on a shared home whose lock does
        not reach other machines, two builds still never share a generation. ``mark``
        is told the new path before anything is built in it (machines.py).
        """
        self.make_dir()
        while True:
            path = self.generation(pointer.next_generation(self.root, self.name))
            try:
                _make_dir(path)
            except FileExistsError:
                continue
            problem = trust.dir_problem(path)
            if problem is not None:
                raise HomeError(problem)
            if mark is not None:
                mark(path)
            return path

    def point(self, which: str, generation: str | None) -> None:
        """Make the pointer ``which`` name ``generation`` (None: remove it), checked first."""
        self.check()
        pointer.point(self.root, self.name, which, generation)

    # -- locks ----------------------------------------------------------------------

    def lock_path(self) -> str:
        """The environment's lock file (``locks/NAME.lock``)."""
        return paths.env_lock_path(self.root, self.name)

    def lock(self) -> locks.Lock:
        """The environment's lock: one builder at a time (not taken)."""
        return store.env_lock(self.lock_path())

    def hold(
        self, *, doing: str, waiting: Callable[[str], None] | None = None, patience: float = 0
    ) -> locks.Lock:
        """Take the environment's lock, saying what for (store.hold_env_lock)."""
        return store.hold_env_lock(
            self.lock_path(), doing=doing, waiting=waiting, patience=patience
        )

    def try_lock(self) -> locks.Attempt:
        """``with env.try_lock() as taken:``: the lock if it is free now."""
        return store.try_env_lock(self.lock_path())

    def holder(self) -> str:
        """Who holds the environment's lock, in words."""
        return store.holder(self.lock_path())

    def exclusive(self) -> store.Exclusive:
        """``with env.exclusive() as busy:``: the lock if it is free now, and why not
        (store.Exclusive); for gc and remove, which may delete the lock file held."""
        return store.Exclusive(self.lock_path())


def _make_dir(path: str, *, parents: bool = False) -> None:
    """Create ``envs/``, an environment's directory or a generation's, 0700 (``parents``:
    and those missing above it; one that exists is no error then).

    FileExistsError is raised as it is (a generation's number is taken: try the next);
    any other refusal is HomeError, in one line naming the directory.
    """
    try:
        if parents:
            os.makedirs(path, mode=0o700, exist_ok=True)
        else:
            os.mkdir(path, 0o700)
    except FileExistsError:
        raise
    except OSError as e:
        raise HomeError(
            f"{path}: cannot create it: {e.strerror or e}; the environment was left as it was"
        ) from None
