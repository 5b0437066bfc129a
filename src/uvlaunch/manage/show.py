"""``show``: one environment as ``list`` sees it, with its packages and its damage."""

from __future__ import annotations

from dataclasses import dataclass

from uvlaunch.building import venv
from uvlaunch.home import paths, stamp, store
from uvlaunch.home.env import Env
from uvlaunch.manage import damage, registry
from uvlaunch.manage.inventory import EnvInfo, inspect, with_commands
from uvlaunch.manage.targets import resolve_targets


@dataclass(frozen=True)
class Details:
    """One environment as ``show`` prints it: what ``list`` says, its packages, its damage."""

    info: EnvInfo
    packages: dict[str, str]  # normalized name -> version
    damage: tuple[str, ...]  # what its block needs that is missing (damage.py)

    def as_dict(self) -> dict[str, object]:
        return {**self.info.as_dict(), "packages": self.packages, "damage": list(self.damage)}


def details(target: str) -> Details:
    """The environment of ``target`` (a script or a name), with its installed packages."""
    (name,) = resolve_targets([target])
    root = store.open_home(create=False)
    info = with_commands(inspect(Env(root, name)), registry.by_env(root))
    fields = stamp.read(paths.stamp_path(info.environment))
    # The block it was synced for: what a launch trusts it to have.
    block = None if fields is None or fields.block is None else fields.block
    found = damage.problems(info.environment, block)
    return Details(info, venv.installed(info.environment), tuple(found))
