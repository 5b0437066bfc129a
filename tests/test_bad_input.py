"""Bad input: one line on stderr naming the file, exit status 2, no traceback.

And no environment deleted: each test first launches a good script, then checks that
its environment is still there, still complete, and still starts warm afterwards.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import Sandbox, assert_one_line_error, execute, make_script, report

GOOD_BLOCK = '# /// script\n# requires-python = ">=3.10"\n# dependencies = ["alpha"]\n# ///\n'

BAD_SCRIPTS: dict[str, tuple[bytes, str]] = {
    # name: (file content, a word the message must contain)
    "not-utf8": (
        b"#!/usr/bin/env -S uvlaunch\n" + GOOD_BLOCK.encode() + b"print('caf\xe9')\n",
        "UTF-8",
    ),
    "latin1-in-block": (
        b"#!/usr/bin/env -S uvlaunch\n# /// script\n# dependencies = []\n# caf\xe9\n# ///\n",
        "UTF-8",
    ),
    "unclosed": (
        b"#!/usr/bin/env -S uvlaunch\n# /// script\n# dependencies = []\nprint('hi')\n",
        "never closed",
    ),
    "two-blocks": (
        b"#!/usr/bin/env -S uvlaunch\n"
        + GOOD_BLOCK.encode()
        + b"print('hi')\n"
        + GOOD_BLOCK.encode(),
        "two",
    ),
    "invalid-toml": (
        b'#!/usr/bin/env -S uvlaunch\n# /// script\n# dependencies = ["alpha"\n# ///\n',
        "TOML",
    ),
    "dependencies-not-a-list": (
        b'#!/usr/bin/env -S uvlaunch\n# /// script\n# dependencies = "alpha"\n# ///\n',
        "dependencies",
    ),
    "bad-requires-python": (
        b'#!/usr/bin/env -S uvlaunch\n# /// script\n# requires-python = "three"\n# ///\n',
        "requires-python",
    ),
    "no-python-satisfies": (
        make_script(requires_python=">=3.99").encode(),
        ">=3.99",
    ),
}


@pytest.fixture
def good(sandbox: Sandbox) -> Path:
    """A script launched once: its environment must survive every error."""
    script = sandbox.script("good.py")
    report(sandbox.run(str(script)))
    return script


def assert_nothing_deleted(sandbox: Sandbox, good: Path, envs: list[Path]) -> None:
    assert sandbox.envs() == envs
    for env in envs:
        assert (env / "bin" / "python").exists()
        assert (env / "uvlaunch-stamp").is_file(), f"{env} is no longer complete"
    warm = sandbox.run(str(good))
    assert report(warm)["alpha"] == "2.0"
    assert warm.stderr == ""


@pytest.mark.parametrize("case", sorted(BAD_SCRIPTS))
def test_bad_new_script(sandbox: Sandbox, good: Path, case: str) -> None:
    content, word = BAD_SCRIPTS[case]
    bad = sandbox.scripts / f"{case}.py"
    bad.write_bytes(content)
    bad.chmod(0o755)
    envs = sandbox.envs()
    for proc in (
        sandbox.run(str(bad)),
        sandbox.run("--no-fast-path", str(bad)),
        sandbox.run("run", str(bad), "arg"),
        execute(sandbox, bad),
    ):
        line = assert_one_line_error(proc, str(bad), word)
        assert proc.stdout == ""
    print(line)
    assert_nothing_deleted(sandbox, good, envs)


@pytest.mark.parametrize("case", sorted(BAD_SCRIPTS))
def test_script_edited_into_bad_input_keeps_its_environment(
    sandbox: Sandbox, good: Path, case: str
) -> None:
    content, word = BAD_SCRIPTS[case]
    envs = sandbox.envs()
    original = good.read_bytes()
    good.write_bytes(content)
    for proc in (sandbox.run(str(good)), execute(sandbox, good)):
        assert_one_line_error(proc, str(good), word)
    assert sandbox.envs() == envs
    assert (envs[0] / "uvlaunch-stamp").is_file()
    # Fixed again: the same environment, warm, no reinstall.
    good.write_bytes(original)
    assert_nothing_deleted(sandbox, good, envs)


def test_missing_script(sandbox: Sandbox, good: Path) -> None:
    envs = sandbox.envs()
    missing = sandbox.scripts / "missing.py"
    for proc in (
        sandbox.run(str(missing)),
        sandbox.run("run", str(missing)),
        sandbox.run("--no-fast-path", "missing.py"),
    ):
        assert_one_line_error(proc, "missing.py", "no such file")
    assert_nothing_deleted(sandbox, good, envs)


def test_deleted_script_keeps_its_environment(sandbox: Sandbox, good: Path) -> None:
    envs = sandbox.envs()
    moved_away = sandbox.root / "kept.py"
    os.rename(good, moved_away)
    assert_one_line_error(sandbox.run(str(good)), str(good), "no such file")
    os.rename(moved_away, good)
    assert_nothing_deleted(sandbox, good, envs)


def test_dangling_symlink(sandbox: Sandbox, good: Path) -> None:
    envs = sandbox.envs()
    link = sandbox.scripts / "dangling.py"
    link.symlink_to(sandbox.scripts / "gone.py")
    assert_one_line_error(sandbox.run(str(link)), str(link))
    assert_nothing_deleted(sandbox, good, envs)


def test_directory(sandbox: Sandbox, good: Path) -> None:
    envs = sandbox.envs()
    directory = sandbox.scripts / "adir.py"
    directory.mkdir()
    for proc in (sandbox.run(str(directory)), sandbox.run("run", str(directory))):
        assert_one_line_error(proc, str(directory), "directory")
    assert_one_line_error(sandbox.run("where", str(directory)), str(directory), "directory")
    assert_nothing_deleted(sandbox, good, envs)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_script(sandbox: Sandbox, good: Path) -> None:
    envs = sandbox.envs()
    bad = sandbox.script("secret.py")
    bad.chmod(0o000)
    try:
        assert_one_line_error(sandbox.run(str(bad)), str(bad), "permission denied")
        # Its own environment, once it exists, survives it becoming unreadable.
        good.chmod(0o000)
        assert_one_line_error(sandbox.run(str(good)), str(good), "permission denied")
    finally:
        bad.chmod(0o644)
        good.chmod(0o755)
    assert_nothing_deleted(sandbox, good, envs)


def test_uvlaunch_uv_missing(sandbox: Sandbox, good: Path) -> None:
    envs = sandbox.envs()
    missing = str(sandbox.root / "no" / "uv")
    env = {**sandbox.env, "UVLAUNCH_UV": missing}
    cold = sandbox.script("cold.py")
    for script in (good, cold):  # warm and cold
        for args in ([], ["--no-fast-path"]):
            proc = sandbox.run(*args, str(script), env=env)
            assert_one_line_error(proc, missing, "UVLAUNCH_UV")
    assert_nothing_deleted(sandbox, good, envs)


def test_uvlaunch_uv_not_executable(sandbox: Sandbox, good: Path) -> None:
    envs = sandbox.envs()
    not_uv = sandbox.root / "uv"
    not_uv.write_text("not a program\n")
    env = {**sandbox.env, "UVLAUNCH_UV": str(not_uv)}
    assert_one_line_error(sandbox.run(str(good), env=env), str(not_uv))
    assert_nothing_deleted(sandbox, good, envs)


def old_uvs() -> list[object]:
    """The uv binaries older than uvlaunch supports that UVLAUNCH_TEST_OLD_UV names."""
    found = [p for p in os.environ.get("UVLAUNCH_TEST_OLD_UV", "").split(os.pathsep) if p]
    if not found:
        reason = "set UVLAUNCH_TEST_OLD_UV to uv binaries older than uvlaunch supports"
        return [pytest.param("", marks=pytest.mark.skip(reason=reason))]
    # .ci/run installs them as .ci-cache/uv-VERSION/bin/uv: the test is named by version
    return [pytest.param(p, id=Path(p).parent.parent.name) for p in found]


def tree(path: Path) -> list[tuple[str, int]]:
    """Every file under ``path`` by inode, but what a background compiler may still be
    writing meanwhile (``__pycache__``, its note): it is no part of the question."""
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in [*dirnames, *filenames]:
            if not name.startswith("uvlaunch-compiled"):
                p = Path(dirpath, name)
                found.append((str(p.relative_to(path)), p.lstat().st_ino))
    return sorted(found)


@pytest.mark.parametrize("old_uv", old_uvs())
def test_uv_too_old(sandbox: Sandbox, good: Path, old_uv: str) -> None:
    """Every command that would run uv names the old one in one line, and changes nothing.

    One old uv rejects `sync --active --script` (0.5.x), another accepts it and syncs
    (one release below uvlaunch's floor): neither may get as far as changing anything.
    """
    reinstalled = sandbox.run("reinstall", str(good))  # a previous generation, for rollback
    assert reinstalled.returncode == 0, reinstalled.stderr
    envs = sandbox.envs()
    before = {d: tree(sandbox.home / d) for d in ("envs", "previous")}
    env = {**sandbox.env, "UVLAUNCH_UV": old_uv}
    cold = sandbox.script("cold.py")
    empty = sandbox.script("empty.py", block=False)
    for args in (
        [str(good)],  # warm, but uv changed
        [str(cold)],
        ["--no-fast-path", str(cold)],
        [str(empty)],
        ["sync", str(cold)],
        ["exec", str(cold), "--", "python", "-c", "pass"],
        ["upgrade", str(good)],
        ["upgrade", "--dry-run", str(good)],
        ["upgrade", "--all"],
        ["reinstall", str(good)],
        ["reinstall", "--all"],
        ["rollback", str(good)],
    ):
        proc = sandbox.run(*args, env=env)
        assert_one_line_error(proc, old_uv, "too old", "`pip install -U uv`")
        assert sandbox.envs() == envs, args
    assert {d: tree(sandbox.home / d) for d in ("envs", "previous")} == before
    assert_nothing_deleted(sandbox, good, envs)


def test_home_cannot_be_created(sandbox: Sandbox) -> None:
    blocker = sandbox.root / "a-file"
    blocker.write_text("")
    home = blocker / "uvlaunch-home"
    env = {**sandbox.env, "UVLAUNCH_HOME": str(home)}
    script = sandbox.script("tool.py")
    for proc in (
        sandbox.run(str(script), env=env),
        sandbox.run("--no-fast-path", str(script), env=env),
        execute(sandbox, script, env=env),
    ):
        assert_one_line_error(proc, str(home))
    assert blocker.is_file()


@pytest.mark.parametrize("warm", [False, True], ids=["new-home", "existing-home"])
def test_home_writable_by_others_is_refused(sandbox: Sandbox, warm: bool) -> None:
    script = sandbox.script("tool.py")
    if warm:
        report(sandbox.run(str(script)))
    else:
        sandbox.home.mkdir()
    envs = sandbox.envs()
    sandbox.home.chmod(0o777)
    for proc in (
        sandbox.run(str(script)),
        sandbox.run("--no-fast-path", str(script)),
        execute(sandbox, script),
    ):
        assert_one_line_error(proc, str(sandbox.home), "writable by others")
    assert sandbox.envs() == envs
    # Fixed as the message says: it runs again, in the same environment.
    sandbox.home.chmod(0o700)
    out = report(sandbox.run(str(script)))
    assert out["alpha"] == "2.0"
    assert [str(e) for e in sandbox.envs()] == ([str(e) for e in envs] or [out["VIRTUAL_ENV"]])


def test_new_home_is_private(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    report(sandbox.run(str(script)))
    assert stat.S_IMODE(sandbox.home.stat().st_mode) == 0o700


def test_uv_failure_is_one_uvlaunch_line_after_uv_message(sandbox: Sandbox, good: Path) -> None:
    # A dependency that cannot be found: uv explains, uvlaunch adds one line, exit 2.
    envs = sandbox.envs()
    bad = sandbox.script("unresolvable.py", deps=["does-not-exist-anywhere"])
    proc = sandbox.run(str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    ours = [line for line in proc.stderr.splitlines() if line.startswith("uvlaunch:")]
    assert len(ours) == 1 and ours[0].startswith("uvlaunch: error: ")
    assert str(bad) in ours[0]
    assert "does-not-exist-anywhere" in proc.stderr  # uv's own explanation
    assert sandbox.envs() == envs
    # Edited into an unresolvable block: the old environment is kept as it was.
    good_text = good.read_text()
    good.write_text(make_script(deps=["alpha", "does-not-exist-anywhere"]))
    proc = sandbox.run(str(good))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    good.write_text(good_text)
    assert_nothing_deleted(sandbox, good, envs)
