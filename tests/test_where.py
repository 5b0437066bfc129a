"""`uvlaunch where SCRIPT [--python|--json]`: which environment a script uses."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import Sandbox, assert_one_line_error, build_wheel, compiled, execute, report


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
    # The environment's pointer, which names the generation the script ran in.
    assert proc.stdout == f"{Path(str(out['VIRTUAL_ENV'])).parent / 'current'}\n"
    assert Path(proc.stdout.strip()).is_dir()
    assert os.path.realpath(proc.stdout.strip()) == str(sandbox.envs()[0])


def test_where_python_prints_the_interpreter(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    out = report(sandbox.run(str(script)))
    proc = where(sandbox, "--python", str(script))
    python = proc.stdout.strip()
    assert proc.stdout == python + "\n"
    assert python == os.path.join(where(sandbox, str(script)).stdout.strip(), "bin", "python")
    assert os.path.samefile(python, str(out["executable"]))
    # It is the environment's interpreter: it imports the script's dependencies.
    check = subprocess.run(
        [python, "-c", "import alpha, sys; print(alpha.VERSION, sys.prefix)"],
        capture_output=True,
        text=True,
        env=sandbox.env,
    )
    assert check.stdout.split() == ["2.0", os.path.dirname(os.path.dirname(python))]


def test_where_json(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    out = report(sandbox.run(str(script)))
    data = json.loads(where(sandbox, "--json", str(script)).stdout)
    assert {"script", "environment", "python", "exists"} <= set(data)
    assert data["script"] == str(script)
    assert data["generation"] == out["VIRTUAL_ENV"]
    assert data["python"] == os.path.join(str(data["environment"]), "bin", "python")
    assert os.path.realpath(str(data["environment"])) == out["VIRTUAL_ENV"]
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
    assert out["VIRTUAL_ENV"] == os.path.realpath(plain)
    after = json.loads(where(sandbox, "--json", str(script)).stdout)
    assert after == {**data, "exists": True, "generation": out["VIRTUAL_ENV"]}


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
    assert out["VIRTUAL_ENV"] == os.path.realpath(str(data["environment"]))
    assert len(sandbox.envs()) == 2


def test_where_follows_identity(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    env = report(sandbox.run(str(script)))["VIRTUAL_ENV"]
    # Through a symlink: the target is the script.
    link = sandbox.root / "link.py"
    link.symlink_to(script)
    data = json.loads(where(sandbox, "--json", str(link)).stdout)
    assert (data["script"], data["generation"], data["exists"]) == (str(script), env, True)
    # Moved, before it was run again: still found by inode.
    moved = sandbox.root / "moved.py"
    os.rename(script, moved)
    compiled(Path(str(env)))  # its background compiler is no part of the question
    before = tree(sandbox.home)
    data = json.loads(where(sandbox, "--json", str(moved)).stdout)
    assert data["generation"] == env
    assert data["exists"] is True
    assert tree(sandbox.home) == before  # where records nothing, not even a move


def test_where_an_incomplete_environment_does_not_exist(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    report(sandbox.run(str(script)))
    env = sandbox.envs()[0]
    (env / "uvlaunch-stamp").unlink()  # as after a sync that was killed
    data = json.loads(where(sandbox, "--json", str(script)).stdout)
    assert os.path.realpath(str(data["environment"])) == str(env)
    assert (data["exists"], data["generation"]) == (False, None)
    # The next launch repairs it (a new generation of the same environment), and where
    # follows.
    repaired = report(sandbox.run(str(script)))["VIRTUAL_ENV"]
    assert os.path.dirname(str(repaired)) == str(env.parent)
    data = json.loads(where(sandbox, "--json", str(script)).stdout)
    assert data["exists"] is True and data["generation"] == repaired
    assert os.path.realpath(str(data["environment"])) == repaired


def test_where_relative_path(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    env = report(sandbox.run(str(script)))["VIRTUAL_ENV"]
    assert os.path.realpath(where(sandbox, "tool.py").stdout.strip()) == env
    assert os.path.realpath(where(sandbox, "./tool.py").stdout.strip()) == env


def test_where_missing_script_is_an_error(sandbox: Sandbox) -> None:
    missing = sandbox.scripts / "nope.py"
    for args in ([], ["--json"], ["--python"]):
        proc = sandbox.run("where", *args, str(missing))
        line = assert_one_line_error(proc, str(missing))
        # Under --json the error is JSON on stdout too (issue 19).
        error = {"error": line.removeprefix("uvlaunch: error: ")}
        assert proc.stdout == ("" if args != ["--json"] else json.dumps(error, indent=2) + "\n")
    assert not sandbox.home.exists()


# -- the path lasts as long as the environment (issue 25, item 6) -------------------

IMPORTS = "import alpha, os, sys; print(alpha.VERSION, os.path.realpath(sys.prefix))"


def imports(sandbox: Sandbox, python: str) -> list[str]:
    """What ``python`` imports: alpha's version, and the generation it runs in."""
    proc = subprocess.run(
        [python, "-c", IMPORTS], capture_output=True, text=True, env=sandbox.env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_where_names_a_path_that_lasts_through_upgrades_rollback_and_gc(
    sandbox: Sandbox,
) -> None:
    wheels = sandbox.root / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "alpha", "1.0")
    sandbox.env.update(UV_FIND_LINKS=str(wheels), UV_NO_INDEX="1")
    script = sandbox.script("tool.py")
    first = report(sandbox.run(str(script)))
    # What an editor is configured with, once.
    python = where(sandbox, "--python", str(script)).stdout.strip()
    env = where(sandbox, str(script)).stdout.strip()
    assert python == os.path.join(env, "bin", "python")
    assert imports(sandbox, python) == ["1.0", first["prefix"]]

    build_wheel(wheels, "alpha", "2.0")
    steps = [("upgrade",), ("reinstall",), ("reinstall",), ("rollback",), ("gc",)]
    for step in steps:
        args = [*step, str(script)] if step != ("gc",) else ["gc"]
        proc = sandbox.run(*args)
        assert proc.returncode == 0, f"{step}: {proc.stderr}"
    assert not os.path.exists(str(first["prefix"])), "gc kept the first generation"
    data = json.loads(where(sandbox, "--json", str(script)).stdout)
    assert (data["environment"], data["python"], data["exists"]) == (env, python, True)
    now = report(sandbox.run(str(script)))
    assert now["prefix"] == data["generation"] != first["prefix"]
    assert imports(sandbox, python) == ["2.0", data["generation"]]


def test_where_json_names_the_generation_behind_the_stable_path(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    assert json.loads(where(sandbox, "--json", str(script)).stdout)["generation"] is None
    out = report(sandbox.run(str(script)))
    data = json.loads(where(sandbox, "--json", str(script)).stdout)
    assert data["generation"] == out["prefix"] == os.path.realpath(str(data["environment"]))
    assert data["environment"] == os.path.join(os.path.dirname(str(out["prefix"])), "current")


def test_exec_sets_virtual_env_to_the_stable_path(sandbox: Sandbox) -> None:
    script = sandbox.script("tool.py")
    out = report(sandbox.run(str(script)))
    code = "import os, sys; print(os.environ['VIRTUAL_ENV'], sys.prefix)"
    proc = sandbox.run("exec", str(script), "--", "python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    virtual_env, prefix = proc.stdout.split()
    assert virtual_env == where(sandbox, str(script)).stdout.strip()
    assert virtual_env == os.path.join(os.path.dirname(prefix), "current")
    # What runs is the generation itself: it keeps it while it runs, as a script does.
    assert prefix == out["prefix"] == out["VIRTUAL_ENV"]
