"""A second local user, made by the test run: what another user of the machine plants.

Tests run as root; ``Stranger`` is a real account (``useradd``), removed at the end of
the session, so that files it makes are owned the way an attacker's are, and a
process it runs has its rights, not root's. ``shared_dir`` is a directory anyone may
write to, as ``/tmp`` is (sticky), or not sticky (``mode=0o777``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Stranger:
    """Another local user: its name, uid and gid."""

    name: str
    uid: int
    gid: int

    def own(self, *paths: Path) -> None:
        """Give ``paths`` to this user (a symlink itself, not what it names)."""
        for path in paths:
            os.lchown(path, self.uid, self.gid)

    def run(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as this user."""
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            argv,
            user=self.uid,
            group=self.gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            **kwargs,
        )


def make_stranger() -> Iterator[Stranger]:
    """The session's second user; skips when it cannot be made (not root, no useradd)."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to make a second local user")
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        pytest.skip("needs useradd and userdel, to make a second local user")
    name = f"uvlt{os.getpid()}"[:31]
    made = subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--user-group", name],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot make a second local user: {made.stderr.strip()}")
    entry = pwd.getpwnam(name)
    try:
        yield Stranger(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def shared_dir(where: Path, mode: int = 0o1777) -> Path:
    """A directory anyone may write to, as ``/tmp``: ``where``/shared, reachable by all."""
    path = where / "shared"
    path.mkdir()
    path.chmod(mode)
    # The test's own tmp directories are root's 0700: open the way to this one.
    for parent in path.parents:
        if parent == Path("/tmp") or parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o711)
    return path
