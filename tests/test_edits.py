"""A block edit is a new generation (issue 25, items 2 and 3), through every launch path.

A running script's generation never changes: an edit builds beside it and flips, like
an upgrade. A failed edit leaves the current generation exactly as it was: not one of
its files is rewritten, whatever else (the background byte-compiler) runs meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import (
    REPORT_BODY,
    UV,
    Sandbox,
    current_generation,
    in_background,
    make_script,
    report,
    settle,
)
from wheels import build_wheel

WAITS = """\
import json, sys
print(json.dumps({"prefix": sys.prefix}), flush=True)
sys.stdin.readline()  # the test lets it go on
import alpha  # a lazy import: after the edit below
print(json.dumps({"alpha": alpha.VERSION, "prefix": sys.prefix}), flush=True)
"""


def where(sandbox: Sandbox, script: Path) -> dict[str, str]:
    proc = sandbox.run("where", "--json", str(script))
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_a_block_edit_never_changes_a_running_scripts_generation(
    sandbox: Sandbox, launch_path: str
) -> None:
    script = sandbox.script(deps=("alpha",), body=WAITS)  # alpha 2.0, the newest
    with in_background([sandbox.command, str(script)], env=sandbox.env, ready="{") as running:
        first = json.loads(running.line)["prefix"]
        script.write_text(make_script(deps=("alpha<2",), body=WAITS))
        with in_background([sandbox.command, str(script)], env=sandbox.env, ready="{") as edited:
            second = json.loads(edited.line)["prefix"]
            out, _ = edited.finish("\n")
            assert json.loads(out.splitlines()[-1])["alpha"] == "1.0"
        assert second != first  # a new generation, beside the one still running
        out, _ = running.finish("\n")
        # It imports alpha only now: from the generation it started in, unchanged.
        assert json.loads(out.splitlines()[-1]) == {"alpha": "2.0", "prefix": first}
    assert running.returncode == 0


def _snapshot(generation: Path) -> dict[str, tuple[int, int]]:
    """Every file of a generation but the compiler's, by (inode, mtime): what a change
    of any of them, a rewrite in place or by rename, shows as."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(generation):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for f in filenames:
            if f.startswith("uvlaunch-compiled") or f == "uvlaunch-use":
                continue
            st = os.lstat(os.path.join(dirpath, f))
            found[os.path.relpath(os.path.join(dirpath, f), generation)] = (
                st.st_ino,
                st.st_mtime_ns,
            )
    return found


def test_a_failed_edit_leaves_the_current_generation_untouched(
    sandbox: Sandbox, launch_path: str
) -> None:
    script = sandbox.script(deps=("alpha",))
    assert sandbox.run(str(script)).returncode == 0
    generation = Path(where(sandbox, script)["environment"])
    before = _snapshot(generation)
    good = script.read_text()
    script.write_text(make_script(deps=("alpha", "does-not-exist-anywhere")))
    proc = sandbox.run(str(script))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "left as it was" in proc.stderr
    # Not one file of the generation was rewritten, its stamp included (it stays
    # complete for the block it was built for, whatever else ran meanwhile).
    assert _snapshot(generation) == before
    script.write_text(good)
    proc = sandbox.run(str(script))
    assert proc.returncode == 0, proc.stderr
    assert "rebuilding" not in proc.stderr
    assert Path(where(sandbox, script)["environment"]) == generation


# -- the edit's generation is a clone of the current one (issue 25: within 1.2x) ---------

HOLDS = """\
import json, sys
print(json.dumps({"prefix": sys.prefix}), flush=True)
sys.stdin.readline()  # holds its generation until the test lets it go
"""


def _contents(generation: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every file of a generation, ``.pyc`` files included, by (inode, mode, mtime,
    content): a write in place keeps the inode and shows in the others; a rename shows
    in the inode."""
    found = {}
    for dirpath, _, filenames in os.walk(generation):
        for f in filenames:
            path = os.path.join(dirpath, f)
            if f.startswith("uvlaunch-compiled") or f == "uvlaunch-use":
                continue
            st = os.lstat(path)
            data = os.readlink(path).encode() if os.path.islink(path) else Path(path).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            found[os.path.relpath(path, generation)] = (
                st.st_ino,
                st.st_mode,
                st.st_mtime_ns,
                digest,
            )
    return found


@pytest.fixture
def overlapping(sandbox: Sandbox, wheelhouse: Path) -> Path:
    """The wheelhouse, and two wheels that ship the same file with different contents
    (``shared_ns/__init__.py``): installing the second puts its file where the first's
    is, which uv does by renaming over it, never by writing into it."""
    out = sandbox.root / "wheels"
    out.mkdir()
    for wheel in wheelhouse.glob("*.whl"):
        shutil.copy(wheel, out)
    for name in ("nsa", "nsb"):
        files = {"shared_ns/__init__.py": f"BY = {name!r}\n", f"{name}/__init__.py": ""}
        build_wheel(out, name, "1.0", files=files)
    sandbox.env["UV_FIND_LINKS"] = str(out)
    return out


def test_an_edit_writes_nothing_into_the_current_generation(
    sandbox: Sandbox, launch_path: str, overlapping: Path
) -> None:
    # The edit's generation shares the current one's files (hard links): uv's installs,
    # upgrades and removals in it, its entry points and its compiler must each make a
    # file anew, never write into one, or the running script's generation would change.
    script = sandbox.script(deps=("alpha<2", "gamma", "nsa"), body=HOLDS)
    with in_background([sandbox.command, str(script)], env=sandbox.env, ready="{") as running:
        current = Path(json.loads(running.line)["prefix"])
        settle(sandbox)  # its own compiler is done: what is there now is what must stay
        before = _contents(current)
        assert "bin/gamma-tool" in before
        # alpha upgraded, nsb's file over nsa's, gamma's entry point kept, then dropped;
        # the last through another uv binary (a new `uv venv`, then the clone).
        other_uv = sandbox.root / "other-uv"
        other_uv.write_text(f'#!/bin/sh\nexec {UV} "$@"\n')
        other_uv.chmod(0o755)
        for deps, uv in (
            (("alpha>=2", "gamma", "nsa", "nsb"), UV),
            (("alpha>=2", "nsb"), UV),
            (("alpha>=2", "gamma", "nsb"), str(other_uv)),
        ):
            script.write_text(make_script(deps=deps, body=REPORT_BODY))
            got = report(sandbox.run(str(script), env=dict(sandbox.env, UVLAUNCH_UV=uv)))
            assert got["alpha"] == "2.0"
            edited = Path(str(got["prefix"]))
            assert edited != current
            if "gamma" in deps:
                tool = edited / "bin" / "gamma-tool"
                assert tool.read_text().startswith(f"#!{edited}/bin/python\n")
                ran = sandbox.capture([str(tool)])
                assert ran.stdout == "gamma-tool ran\n", ran.stderr
            settle(sandbox)
            assert _contents(current) == before
        out, _ = running.finish("\n")
    assert running.returncode == 0, out


def test_an_edit_keeps_what_it_does_not_change(sandbox: Sandbox, launch_path: str) -> None:
    # The edit's generation starts as the current one: uv syncs only what the edit
    # changes, keeping the versions installed (alpha 1.0, which the new block still
    # allows), as the in-place sync did; the .pyc files of what it keeps are there
    # before any compiler runs. One uv process: no pins to install, and no `uv venv`
    # while the uv that made the current generation is the one here.
    log = sandbox.root / "uv-calls"
    uv = sandbox.root / "uv"
    uv.write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {UV} "$@"\n')
    uv.chmod(0o755)
    sandbox.env["UVLAUNCH_UV"] = str(uv)
    script = sandbox.script(deps=("alpha<2",))
    assert report(sandbox.run(str(script)))["alpha"] == "1.0"
    settle(sandbox)
    (current,) = sandbox.envs()
    kept = sorted(p.relative_to(current) for p in current.rglob("alpha/__pycache__/*.pyc"))
    assert kept
    log.write_text("")
    script.write_text(make_script(deps=("alpha", "beta")))
    got = report(sandbox.run(str(script), env=dict(sandbox.env, UVLAUNCH_COMPILE_BYTECODE="0")))
    assert got["alpha"] == "1.0"
    edited = Path(str(got["prefix"]))
    assert edited != current
    assert sorted(p.relative_to(edited) for p in edited.rglob("alpha/__pycache__/*.pyc")) == kept
    # (The slow path then starts the script through `uv run`, as it always does.)
    assert [call for call in log.read_text().split() if call != "run"] == ["sync"]


def test_the_replaced_generation_is_deleted(sandbox: Sandbox, launch_path: str) -> None:
    # Out of use at once (into the trash, under its use lock), deleted by a detached
    # process while the edited script starts.
    script = sandbox.script(deps=("alpha",))
    report(sandbox.run(str(script)))
    (env_dir,) = sandbox.env_dirs()
    first = current_generation(env_dir)
    script.write_text(make_script(deps=("alpha", "beta")))
    report(sandbox.run(str(script)))
    assert not first.exists()
    trash = sandbox.home / "trash"
    deadline = time.monotonic() + 60
    while trash.exists() and any(trash.iterdir()):
        assert time.monotonic() < deadline, list(trash.iterdir())
        time.sleep(0.05)
