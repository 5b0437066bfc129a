"""paths.home(): UVLAUNCH_HOME, else exactly platformdirs' user data directory.

paths.py mirrors platformdirs without importing it (the warm fast path cannot afford
the import); these tests hold the two to the same answer. In-process: nothing runs.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import platformdirs
import pytest
from conftest import Sandbox, report

from uvlaunch.errors import HomeError
from uvlaunch.home import paths


def expected() -> str:
    return platformdirs.user_data_dir("uvlaunch", appauthor=False)


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("UVLAUNCH_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return home


def test_xdg_data_home_set(
    user_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    assert paths.home() == expected()
    if sys.platform.startswith("linux"):
        assert paths.home() == str(data / "uvlaunch")


def test_xdg_data_home_unset(user_home: Path) -> None:
    assert "XDG_DATA_HOME" not in os.environ
    assert paths.home() == expected()
    if sys.platform.startswith("linux"):
        assert paths.home() == str(user_home / ".local" / "share" / "uvlaunch")


def test_xdg_data_home_empty(user_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "")
    assert paths.home() == expected()
    if sys.platform.startswith("linux"):
        assert paths.home() == str(user_home / ".local" / "share" / "uvlaunch")


@pytest.mark.parametrize("value", ["   ", "relative/data", "~/data", " /abs/with/space "])
def test_xdg_data_home_unusual(
    user_home: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", value)
    assert paths.home() == expected()
    assert os.path.isabs(paths.home())


@pytest.mark.parametrize("home", ["", "relative-home", None])
def test_home_unusual(
    user_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    if home is None:
        monkeypatch.delenv("HOME")
    else:
        monkeypatch.setenv("HOME", home)
    assert paths.home() == expected()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    assert paths.home() == expected()


def test_platformdirs_home_ignores_uvlaunch_home(
    user_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UVLAUNCH_HOME", str(tmp_path / "custom"))
    assert paths.platformdirs_home() == expected()


def test_uvlaunch_home_overrides(
    user_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("UVLAUNCH_HOME", str(tmp_path / "custom"))
    assert paths.home() == str(tmp_path / "custom")
    monkeypatch.setenv("UVLAUNCH_HOME", "~/uvl")
    assert paths.home() == str(user_home / "uvl")
    # Relative: refused, not a new home in each directory a script starts from.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UVLAUNCH_HOME", "rel")
    with pytest.raises(HomeError, match="must be an absolute path"):
        paths.home()
    # Empty means unset.
    monkeypatch.setenv("UVLAUNCH_HOME", "")
    assert paths.home() == expected()


def test_home_computation_creates_nothing(user_home: Path) -> None:
    paths.home()
    assert list(user_home.iterdir()) == []


# -- end to end: the real command, without UVLAUNCH_HOME -----------------------------


@pytest.mark.parametrize("xdg", ["absolute", "unset", "empty", "relative"])
def test_default_home_end_to_end(sandbox: Sandbox, xdg: str) -> None:
    env = dict(sandbox.env)
    del env["UVLAUNCH_HOME"]
    user_home = Path(env["HOME"])
    if xdg == "absolute":
        env["XDG_DATA_HOME"] = str(sandbox.root / "xdg-data")
        home = sandbox.root / "xdg-data" / "uvlaunch"
    else:
        if xdg != "unset":
            env["XDG_DATA_HOME"] = "" if xdg == "empty" else "relative-data"
        home = user_home / ".local" / "share" / "uvlaunch"
    script = sandbox.script("tool.py")
    where = json.loads(sandbox.run("where", "--json", str(script), env=env).stdout)
    assert where["environment"].startswith(str(home) + os.sep)
    out = report(sandbox.run(str(script), env=env))
    assert out["VIRTUAL_ENV"] == os.path.realpath(where["environment"])
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert not (sandbox.scripts / "relative-data").exists()
    assert not sandbox.home.exists()
    warm = sandbox.run(str(script), env=env)
    assert report(warm)["VIRTUAL_ENV"] == os.path.realpath(where["environment"])
    assert warm.stderr == ""
