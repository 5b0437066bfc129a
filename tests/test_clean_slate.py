"""A home that empties (issue 29): ``remove --all`` leaves only empty lock files, and gc
drops the shared ``.pyc`` files no environment links any more."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Sandbox, compiled, in_background, report


def files_under(top: Path) -> dict[str, int]:
    """Every file (not directory) under ``top``: its path below ``top``, and its size."""
    found = {}
    for folder, _, names in os.walk(top):
        for name in names:
            path = Path(folder) / name
            found[str(path.relative_to(top))] = path.lstat().st_size
    return found


def test_remove_all_leaves_only_empty_lock_files(sandbox: Sandbox) -> None:
    sandbox.env["UVLAUNCH_BIN_DIR"] = str(sandbox.root / "bin")
    one = sandbox.script("one.py", deps=("gamma",))
    two = sandbox.script("two.py", deps=("gamma", "alpha"))
    report(sandbox.run(str(one)))
    report(sandbox.run(str(two)))
    assert sandbox.run("install", str(two), "--name", "tool").returncode == 0
    piped = sandbox.run("-", input=one.read_text())
    report(piped)
    for env in sandbox.envs():
        compiled(env)
    assert any(p.startswith("pyc/") for p in files_under(sandbox.home))
    proc = sandbox.run("remove", "--all")
    assert proc.returncode == 0, proc.stderr
    left = files_under(sandbox.home)
    assert {p: size for p, size in left.items() if size or not p.startswith("locks/")} == {}
    assert all(p.endswith(".lock") for p in left), left
    assert list((sandbox.root / "bin").iterdir()) == []
    # The README's last step then removes the home, and nothing of uvlaunch is left.
    assert sandbox.run("list").stdout == "no environments\n"


def test_gc_drops_shared_pyc_files_that_nothing_links(sandbox: Sandbox) -> None:
    kept = sandbox.script("kept.py", deps=("gamma",))
    gone = sandbox.script("gone.py", deps=("alpha",))
    report(sandbox.run(str(kept)))
    report(sandbox.run(str(gone)))
    for env in sandbox.envs():
        compiled(env)
    store = sandbox.home / "pyc"
    before = {p for p in files_under(store)}
    gone.unlink()
    proc = sandbox.run("gc")
    assert proc.returncode == 0, proc.stderr
    after = files_under(store)
    assert after and set(after) < before
    # What is left is linked from the environment that stays; nothing else is.
    assert all((store / p).stat().st_nlink > 1 for p in after)


@pytest.mark.usefixtures("launcher")
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "through-uv"])
def test_a_piped_scripts_file_stays_while_it_runs_and_goes_after(
    sandbox: Sandbox, fast: bool
) -> None:
    body = "import sys\nprint('started', flush=True)\nsys.stdin.read()\n"
    text = sandbox.script("piped.py", deps=(), body=body).read_text()
    source = sandbox.root / "source.py"
    source.write_text(text)
    options = [] if fast else ["--no-fast-path"]
    # A pipe, as `<(curl ...)` gives one: standard input stays the test's to end it.
    argv = ["bash", "-c", f'exec "$0" {" ".join(options)} <(cat "$1")', sandbox.command, source]
    with in_background(argv, env=sandbox.env) as running:
        proc = sandbox.run("gc")
        assert proc.returncode == 0, proc.stderr
        assert [p.name for p in (sandbox.home / "tmp").iterdir()], "deleted while it ran"
        running.finish()
        assert running.returncode == 0
    assert sandbox.run("gc").returncode == 0
    assert list((sandbox.home / "tmp").iterdir()) == []
