"""`uvlaunch where SCRIPT [--python|--json]`: which environment a script uses."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import Sandbox, assert_one_line_error, compiled, execute, report


def where(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    proc = sandbox.run("where", *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc


def tree(top: Path) -> list[tuple[str, int]]:
    """Every path under ``top`` with its mtime: what `where` must leave untouched."""
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            out.append((p, os.lstat(p).st_mtime_ns))
    return sorted(out)


def test_where_prints_the_environment_directory(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    out = report(sandbox.run(str(script)))
    proc = where(sandbox, str(script))
    assert proc.stdout == f"{out['VIRTUAL_ENV']}\n"
    assert Path(proc.stdout.strip()).is_dir()
    assert proc.stdout.strip() == str(sandbox.envs()[0])


def test_where_python_prints_the_interpreter(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    out = report(sandbox.run(str(script)))
    proc = where(sandbox, "--python", str(script))
    python = proc.stdout.strip()
    assert proc.stdout == python + "\n"
    assert python == out["executable"]
    assert python == os.path.join(str(out["VIRTUAL_ENV"]), "bin", "python")
    # It is the environment's interpreter: it imports the script's dependencies.
    check = subprocess.run(
        [python, "-c", "import alpha, sys; print(alpha.VERSION, sys.prefix)"],
        capture_output=True,
        text=True,
        env=sandbox.env,
    )
    assert check.stdout.split() == ["2.0", out["VIRTUAL_ENV"]]


def test_where_json(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    out = report(sandbox.run(str(script)))
    data = json.loads(where(sandbox, "--json", str(script)).stdout)
    assert {"script", "environment", "python", "exists"} <= set(data)
    assert data["script"] == str(script)
    assert data["environment"] == out["VIRTUAL_ENV"]
    assert data["python"] == out["executable"]
    assert data["exists"] is True


def test_where_before_the_first_launch_creates_nothing(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    assert not sandbox.home.exists()
    data = json.loads(where(sandbox, "--json", str(script)).stdout)
    plain = where(sandbox, str(script)).stdout.strip()
    python = where(sandbox, "--python", str(script)).stdout.strip()
    assert data["exists"] is False
    assert data["script"] == str(script)
    assert plain == data["environment"]
    assert python == data["python"] == os.path.join(plain, "bin", "python")
    assert not sandbox.home.exists(), "where created the home"
    assert not os.path.exists(plain)

    # The first launch then uses exactly that environment.
    out = report(execute(sandbox, script))
    assert out["VIRTUAL_ENV"] == data["environment"]
    after = json.loads(where(sandbox, "--json", str(script)).stdout)
    assert after == {**data, "exists": True}


def test_where_creates_nothing_in_an_existing_home(sandbox: Sandbox) -> None:
    first = sandbox.script("first.py")
    report(sandbox.run(str(first)))
    compiled(sandbox.envs()[0])  # its background compiler is no part of the question
    before = tree(sandbox.home)
    second = sandbox.script("second.py")
    data = json.loads(where(sandbox, "--json", str(second)).stdout)
    assert data["exists"] is False
    assert tree(sandbox.home) == before
    out = report(sandbox.run(str(second)))
    assert out["VIRTUAL_ENV"] == data["environment"]
    assert len(sandbox.envs()) == 2


def test_where_follows_identity(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    env = report(sandbox.run(str(script)))["VIRTUAL_ENV"]
    # Through a symlink: the target is the script.
    link = sandbox.root / "link.py"
    link.symlink_to(script)
    data = json.loads(where(sandbox, "--json", str(link)).stdout)
    assert (data["script"], data["environment"], data["exists"]) == (str(script), env, True)
    # Moved, before it was run again: still found by inode.
    moved = sandbox.root / "moved.py"
    os.rename(script, moved)
    compiled(Path(str(env)))  # its background compiler is no part of the question
    before = tree(sandbox.home)
    data = json.loads(where(sandbox, "--json", str(moved)).stdout)
    assert data["environment"] == env
    assert data["exists"] is True
    assert tree(sandbox.home) == before  # where records nothing, not even a move


def test_where_an_incomplete_environment_does_not_exist(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    report(sandbox.run(str(script)))
    env = sandbox.envs()[0]
    (env / "uvlaunch-stamp").unlink()  # as after a sync that was killed
    data = json.loads(where(sandbox, "--json", str(script)).stdout)
    assert data["environment"] == str(env)
    assert data["exists"] is False
    # The next launch repairs it (a new generation of the same environment), and where
    # follows.
    repaired = report(sandbox.run(str(script)))["VIRTUAL_ENV"]
    assert os.path.dirname(str(repaired)) == str(env.parent)
    data = json.loads(where(sandbox, "--json", str(script)).stdout)
    assert data["exists"] is True and data["environment"] == repaired


def test_where_relative_path(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    env = report(sandbox.run(str(script)))["VIRTUAL_ENV"]
    assert where(sandbox, "tool.py").stdout.strip() == env
    assert where(sandbox, "./tool.py").stdout.strip() == env


def test_where_missing_script_is_an_error(sandbox: Sandbox) -> None:
    missing = sandbox.scripts / "nope.py"
    for args in ([], ["--json"], ["--python"]):
        proc = sandbox.run("where", *args, str(missing))
        line = assert_one_line_error(proc, str(missing))
        # Under --json the error is JSON on stdout too (issue 19).
        error = {"error": line.removeprefix("uvlaunch: error: ")}
        assert proc.stdout == ("" if args != ["--json"] else json.dumps(error, indent=2) + "\n")
    assert not sandbox.home.exists()
