"""The last resort at the edges (issue 27): an OSError that no layer turned into a
sentence is still one line and status 2, never a traceback.

Quick tests, no uv. Each layer converts its own OSErrors where they arise, saying what
state it leaves (tests/test_faults.py finds those it does not, by UNEXPECTED).
"""

from __future__ import annotations

import errno

import pytest

from uvlaunch.cli import app
from uvlaunch.cli.output import guard
from uvlaunch.errors import UNEXPECTED, unexpected
from uvlaunch.launching import launch, slowpath


def io_error(*names: str) -> OSError:
    return OSError(errno.EIO, "Input/output error", *names)


def test_names_the_files_and_the_reason() -> None:
    assert str(unexpected(io_error("/h/a", None, "/h/b"))).startswith(
        f"/h/a -> /h/b: Input/output error; {UNEXPECTED}"
    )
    assert str(unexpected(io_error())).startswith("a system call: Input/output error; ")


def test_guard_turns_an_oserror_into_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def fails() -> None:
        raise io_error("/h/envs/x/current")

    with pytest.raises(SystemExit) as done:
        guard(fails)
    assert done.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("uvlaunch: error: /h/envs/x/current: Input/output error; ")


def test_a_command_that_lets_an_oserror_out_ends_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(script: str, **kw: object) -> None:
        raise io_error(script)

    monkeypatch.setattr(launch, "prepare", fails)  # `sync` catches UvlaunchError alone
    assert app.main(["sync", "/h/s.py"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("uvlaunch: error: /h/s.py: Input/output error; ")


def test_the_slow_path_turns_an_oserror_into_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(invoked: str, **kw: object) -> None:
        raise io_error(invoked)

    monkeypatch.setattr(launch, "prepare", fails)
    assert slowpath.launch_script("/h/s.py", [], quiet=0, verbose=0, fast=False) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("uvlaunch: error: /h/s.py: Input/output error; ")
