"""Byte-compiling environments (bytecode.py): the same .pyc files py_compile writes.

The unit tests compile trees in tmp_path with this interpreter and compare every file
byte for byte with what ``py_compile`` writes for it. The end-to-end tests launch
scripts through the real uvlaunch and uv and check the environments they leave.
"""

from __future__ import annotations

import importlib.util
import os
import py_compile
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Sandbox, interpreter_dir, report, site_packages

from uvlaunch import bytecode

MODULE = "import os\n\n\ndef f(x):\n    return os.path.join(x, 'y')\n"


def make_tree(top: Path, n: int = 12) -> list[Path]:
    files = []
    for i in range(n):
        pkg = top / f"pkg{i % 3}"
        pkg.mkdir(parents=True, exist_ok=True)
        path = pkg / f"mod{i}.py"
        path.write_text(MODULE + f"\nVALUE = {i}\n" + "X = 1\n" * (i * 40))
        files.append(path)
    return files


def expected(path: Path, tmp_path: Path, mode: py_compile.PycInvalidationMode) -> bytes:
    """What py_compile writes for ``path``."""
    out = tmp_path / "expected.pyc"
    py_compile.compile(str(path), cfile=str(out), doraise=True, invalidation_mode=mode)
    return out.read_bytes()


def pyc(path: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(path)))


@pytest.mark.parametrize("jobs", [1, 3])
def test_writes_what_py_compile_writes(tmp_path: Path, jobs: int) -> None:
    files = make_tree(tmp_path / "site")
    assert bytecode.compile_dirs([str(tmp_path / "site")], jobs=jobs) == len(files)
    for path in files:
        got = pyc(path).read_bytes()
        assert got == expected(path, tmp_path, py_compile.PycInvalidationMode.TIMESTAMP), path


def test_checked_hashes_with_source_date_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "315532800")
    files = make_tree(tmp_path / "site", n=4)
    bytecode.compile_dirs([str(tmp_path / "site")], jobs=2)
    for path in files:
        want = expected(path, tmp_path, py_compile.PycInvalidationMode.CHECKED_HASH)
        assert pyc(path).read_bytes() == want


def test_only_stale_files_are_compiled_again(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "site", n=6)
    top = str(tmp_path / "site")
    assert bytecode.compile_dirs([top]) == 6
    assert bytecode.compile_dirs([top]) == 0
    changed = files[2]
    changed.write_text(MODULE + "CHANGED = True\n")
    os.utime(changed, (time.time() + 5, time.time() + 5))
    assert bytecode.compile_dirs([top]) == 1
    namespace: dict[str, object] = {}
    exec(compile_from_pyc(pyc(changed)), namespace)
    assert namespace["CHANGED"] is True


def compile_from_pyc(path: Path) -> object:
    import marshal

    return marshal.loads(path.read_bytes()[16:])


def test_files_that_do_not_compile_are_skipped_quietly(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    good = make_tree(site, n=3)
    (site / "py2.py").write_text("print 'hello'\n")
    (site / "nul.py").write_bytes(b"x = 1\0\n")
    (site / "latin1.py").write_bytes(b"s = '\xe9'\n")
    (site / "escape.py").write_text('PATTERN = "\\d+"\n')  # warns when compiled
    bytecode.compile_dirs([str(site)], jobs=2)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert all(pyc(p).exists() for p in good)
    assert pyc(site / "escape.py").exists()
    assert not pyc(site / "py2.py").exists()
    assert not pyc(site / "nul.py").exists()


def test_pycache_directories_are_not_searched(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_tree(site, n=2)
    stray = site / "__pycache__" / "stray.py"
    stray.parent.mkdir(parents=True)
    stray.write_text("x = 1\n")
    assert bytecode.compile_dirs([str(site)]) == 2
    assert not pyc(stray).exists()


PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def other_python() -> tuple[str, str]:
    """Another installed Python: (version, bin directory); skips the test if none."""
    for version in ("3.12", "3.13", "3.10"):
        found = interpreter_dir(version)
        if version != PY and found:
            return version, found
    pytest.skip("no second Python installed")


def test_runs_as_a_script_with_another_python(tmp_path: Path) -> None:
    version, bin_dir = other_python()
    python = Path(bin_dir) / f"python{version}"
    site = tmp_path / "site"
    files = make_tree(site, n=5)
    subprocess.run([str(python), "-I", bytecode.__file__, str(site)], check=True)
    tag = subprocess.run(
        [str(python), "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for path in files:
        assert (path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc").exists()
        assert not pyc(path).exists()


# -- end to end ------------------------------------------------------------------------


def stale_sources(env: Path) -> list[Path]:
    """Python files in the environment's site-packages without a current .pyc."""
    sp = site_packages(env)
    return [p for p in sp.rglob("*.py") if not bytecode._fresh(str(p))]


def test_first_launch_compiles_the_environment(sandbox: Sandbox) -> None:
    script = sandbox.script("c.py", deps=("alpha", "gamma"))
    report(sandbox.run(str(script)))
    (env,) = sandbox.envs()
    sources = list(site_packages(env).rglob("*.py"))
    assert any(p.parent.name == "gamma" for p in sources)
    assert stale_sources(env) == []


def test_a_sync_compiles_what_it_installs(sandbox: Sandbox) -> None:
    script = sandbox.script("c.py", deps=("alpha",))
    report(sandbox.run(str(script)))
    script.write_text(script.read_text().replace('["alpha"]', '["alpha", "beta"]'))
    report(sandbox.run(str(script)))
    (env,) = sandbox.envs()
    assert (site_packages(env) / "beta" / "__init__.py").exists()
    assert stale_sources(env) == []


def test_compile_can_be_turned_off(sandbox: Sandbox) -> None:
    script = sandbox.script("c.py", deps=("beta",), body="import sys\n")
    env = dict(sandbox.env, UVLAUNCH_COMPILE_BYTECODE="0", PYTHONDONTWRITEBYTECODE="1")
    proc = sandbox.run(str(script), env=env)
    assert proc.returncode == 0, proc.stderr
    (venv,) = sandbox.envs()
    assert site_packages(venv) / "beta" / "__init__.py" in stale_sources(venv)


def test_environment_on_another_python_is_compiled_by_that_python(sandbox: Sandbox) -> None:
    other_version, other_dir = other_python()
    env = dict(sandbox.env, PATH=os.pathsep.join([other_dir, sandbox.env["PATH"]]))
    script = sandbox.script("other.py", deps=("alpha",), requires_python=f"=={other_version}.*")
    got = report(sandbox.run(str(script), env=env))
    (venv,) = sandbox.envs()
    tag = "cpython-" + other_version.replace(".", "")
    init = site_packages(venv) / "alpha" / "__init__.py"
    assert (init.parent / "__pycache__" / f"__init__.{tag}.pyc").exists(), got
    assert not (
        init.parent / "__pycache__" / f"__init__.{sys.implementation.cache_tag}.pyc"
    ).exists()


def test_compiled_with_pythondontwritebytecode(sandbox: Sandbox) -> None:
    # Python writes nothing at run time under PYTHONDONTWRITEBYTECODE=1, so the .pyc
    # the script's import finds was written when the environment was built.
    body = "import alpha\nprint(alpha.__cached__)\n"
    script = sandbox.script("warm.py", deps=("alpha",), body=body)
    env = dict(sandbox.env, PYTHONDONTWRITEBYTECODE="1")
    for _ in range(2):
        proc = sandbox.run(str(script), env=env)
        assert proc.returncode == 0, proc.stderr
        assert Path(proc.stdout.strip()).is_file()
