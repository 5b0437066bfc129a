"""Byte-compiling environments (bytecode.py): the same .pyc files py_compile writes.

The unit tests compile trees in tmp_path with this interpreter and compare every file
byte for byte with what ``py_compile`` writes for it. The end-to-end tests launch
scripts through the real uvlaunch and uv and check the environments they leave.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import py_compile
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Sandbox, compiled, in_background, interpreter_dir, report, site_packages

from uvlaunch.building import bytecode

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
    compiled(env)
    sources = list(site_packages(env).rglob("*.py"))
    assert any(p.parent.name == "gamma" for p in sources)
    assert stale_sources(env) == []


def test_a_sync_compiles_what_it_installs(sandbox: Sandbox) -> None:
    script = sandbox.script("c.py", deps=("alpha",))
    report(sandbox.run(str(script)))
    script.write_text(script.read_text().replace('["alpha"]', '["alpha", "beta"]'))
    report(sandbox.run(str(script)))
    (env,) = sandbox.envs()
    compiled(env)
    assert (site_packages(env) / "beta" / "__init__.py").exists()
    assert stale_sources(env) == []


# Runs the command in argv[1:] as a child subreaper (Linux): what it leaves running, such
# as a detached compiler, becomes this process's child, and it exits once all have exited.
REAPER = """\
import ctypes, os, subprocess, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit(f"prctl: {os.strerror(ctypes.get_errno())}")
status = subprocess.call(sys.argv[1:])
try:
    while True:
        os.wait()
except ChildProcessError:
    sys.exit(status)
"""


def run_to_the_end(
    sandbox: Sandbox, argv: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and wait until it and every process it started have exited."""
    if not sys.platform.startswith("linux"):
        pytest.skip("waits for a detached compiler as a child subreaper (Linux)")
    return sandbox.capture([sys.executable, "-c", REAPER, *argv], env=env)


def test_compile_can_be_turned_off(sandbox: Sandbox) -> None:
    script = sandbox.script("c.py", deps=("beta",), body="import sys\n")
    env = dict(sandbox.env, UVLAUNCH_COMPILE_BYTECODE="0", PYTHONDONTWRITEBYTECODE="1")
    # A background compiler, were one started, has finished when this returns.
    proc = run_to_the_end(sandbox, [str(script)], env)
    assert proc.returncode == 0, proc.stderr
    (venv,) = sandbox.envs()
    assert site_packages(venv) / "beta" / "__init__.py" in stale_sources(venv)
    # What it would have done: a launch with compiling on leaves nothing to compile.
    env["UVLAUNCH_COMPILE_BYTECODE"] = "1"
    proc = run_to_the_end(sandbox, [sandbox.command, "--no-fast-path", str(script)], env)
    assert proc.returncode == 0, proc.stderr
    assert stale_sources(venv) == []


def test_environment_on_another_python_is_compiled_by_that_python(sandbox: Sandbox) -> None:
    other_version, other_dir = other_python()
    env = dict(sandbox.env, PATH=os.pathsep.join([other_dir, sandbox.env["PATH"]]))
    script = sandbox.script("other.py", deps=("alpha",), requires_python=f"=={other_version}.*")
    got = report(sandbox.run(str(script), env=env))
    (venv,) = sandbox.envs()
    compiled(venv)
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
    proc = sandbox.run(str(script), env=env)
    assert proc.returncode == 0, proc.stderr
    compiled(sandbox.envs()[0])
    for _ in range(2):
        proc = sandbox.run(str(script), env=env)
        assert proc.returncode == 0, proc.stderr
        assert Path(proc.stdout.strip()).is_file()


# -- the shared store and the background compiler (issue 9) ----------------------------


def test_store_writes_what_py_compile_writes_with_a_neutral_name(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "env" / "site-packages")
    store = tmp_path / "store"
    assert bytecode.compile_dirs([str(tmp_path / "env" / "site-packages")], store=str(store))
    for path in files:
        neutral = str(path).rpartition("/site-packages/")[2]
        out = tmp_path / "expected.pyc"
        py_compile.compile(str(path), cfile=str(out), dfile=neutral, doraise=True)
        assert pyc(path).read_bytes() == out.read_bytes(), path
        assert pyc(path).stat().st_nlink == 2  # the store's copy and this one
    assert len(list(store.rglob("*"))) > len(files)  # files and their fan-out folders


def test_a_source_compiled_once_is_linked_in_the_next_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uv hard-links the same files from its cache into every environment: the compiler
    # of the second one (a later first launch) finds their .pyc in the store by what they
    # are compiled from, and links it without compiling anything.
    files = make_tree(tmp_path / "one" / "site-packages")
    for path in files:
        twin = tmp_path / "two" / "site-packages" / path.relative_to(files[0].parents[1])
        twin.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, twin)
    store = tmp_path / "store"
    assert bytecode.compile_dirs([str(tmp_path / "one" / "site-packages")], store=str(store))

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(bytecode, "compile", no_compiling, raising=False)
    two = str(tmp_path / "two" / "site-packages")
    assert bytecode.compile_dirs([two], jobs=1, store=str(store)) == len(files)
    for path in files:
        assert pyc(path).stat().st_nlink == 3  # the store's copy and both environments'
        twin = tmp_path / "two" / "site-packages" / path.relative_to(files[0].parents[1])
        assert pyc(twin).samefile(pyc(path))


def test_environments_share_compiled_files(sandbox: Sandbox) -> None:
    one = sandbox.script("one.py", deps=("gamma",))
    two = sandbox.script("two.py", deps=("gamma", "alpha"))
    report(sandbox.run(str(one)))
    report(sandbox.run(str(two)))
    envs = [compiled(env) for env in sandbox.envs()]
    inodes = {pyc(site_packages(env) / "gamma" / "__init__.py").stat().st_ino for env in envs}
    assert len(inodes) == 1, "the same source compiled twice"
    # A function's file name is the real file in each environment, not the neutral one.
    body = "import gamma\nprint(gamma.main.__code__.co_filename)\n"
    three = sandbox.script("three.py", deps=("gamma",), body=body)
    env = dict(sandbox.env, PYTHONDONTWRITEBYTECODE="1")
    first = sandbox.run(str(three), env=env)
    compiled(next(e for e in sandbox.envs() if e.parent.name.startswith("three")))
    proc = sandbox.run(str(three), env=env)
    assert proc.stdout == first.stdout
    assert proc.stdout.strip().endswith("/site-packages/gamma/__init__.py")
    assert proc.stdout.startswith(str(sandbox.home / "envs"))
    # gc keeps shared files while an environment links them, and drops them after.
    for script in (one, two, three):
        script.unlink()
    assert sandbox.run("gc").returncode == 0
    old = time.time() - 7200
    for f in (sandbox.home / "pyc").rglob("*"):
        if f.is_file():
            os.utime(f, (old, old))
    assert sandbox.run("gc").returncode == 0
    assert [f for f in (sandbox.home / "pyc").rglob("*") if f.is_file()] == []


def many_modules_wheel(sandbox: Sandbox, n: int = 400) -> None:
    """A package of ``n`` modules in the test's own find-links directory: seconds to compile."""
    from conftest import build_wheel

    d = sandbox.root / "wheels"
    d.mkdir(exist_ok=True)
    for f in Path(sandbox.env["UV_FIND_LINKS"]).iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    code = "".join(f"def f{j}(x):\n    return x + {j}\n" for j in range(200))
    files = {f"manymods/m{i}.py": code for i in range(n)}
    build_wheel(d, "manymods", "1.0", files={"manymods/__init__.py": "VERSION = '1.0'\n", **files})
    sandbox.env["UV_FIND_LINKS"] = str(d)


def compiler_pids(env: Path) -> list[int]:
    """Processes that are uvlaunch's background compiler for ``env``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                maps = Path(f"/proc/{entry}/cmdline").read_bytes()
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if (
                b"uvlaunch" in maps
                and " Z " not in stat
                and _is_idle(int(entry))
                and _holds(int(entry), env)
            ):
                found.append(int(entry))
    return found


def _holds(pid: int, env: Path) -> bool:
    # The compiler holds its environment's directory open (compiling.py): this tells it
    # from the compilers of other tests, or of other runs on the same machine.
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}") == str(env) for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def _is_idle(pid: int) -> bool:
    try:
        return os.sched_getscheduler(pid) == os.SCHED_IDLE
    except OSError:
        return False


def test_starts_during_compiling_and_a_killed_compiler(sandbox: Sandbox) -> None:
    many_modules_wheel(sandbox, n=1500)
    # Imports modules all over the package, while the compiler writes their .pyc files.
    body = (
        "import importlib, json, manymods\n"
        "for i in range(0, 1500, 25):\n"
        "    assert importlib.import_module(f'manymods.m{i}').f3(1) == 4\n"
        "print(json.dumps({'ok': manymods.VERSION}))\n"
    )
    script = sandbox.script("many.py", deps=("manymods",), body=body)
    env = dict(sandbox.env, PYTHONDONTWRITEBYTECODE="1")
    first = sandbox.run(str(script), env=env)
    assert first.returncode == 0, first.stderr
    (venv,) = sandbox.envs()
    # Starts while the compiler works: none fails, none sees a broken .pyc.
    seen_compiler = False
    for _ in range(20):
        seen_compiler = seen_compiler or bool(compiler_pids(venv))
        proc = sandbox.run(str(script), env=env)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    # Kill it part-way (a second environment, so there is something left to do).
    other = sandbox.script("other.py", deps=("manymods", "alpha"), body=body)
    assert sandbox.run(str(other), env=env).returncode == 0
    deadline = time.monotonic() + 10
    while not (pids := compiler_pids(venv)) and time.monotonic() < deadline:
        time.sleep(0.005)
    for pid in pids:
        os.kill(pid, 9)
    for script_ in (script, other):
        proc = sandbox.run(str(script_), env=env)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # no rebuild
    assert len(sandbox.envs()) == 2
    assert seen_compiler or pids, "the compiler was never seen running"


def test_the_compiler_holds_none_of_the_launch(sandbox: Sandbox) -> None:
    many_modules_wheel(sandbox, n=1500)
    script = sandbox.script("many.py", deps=("manymods",), body="print('done')")
    proc = sandbox.capture([str(script)])  # read to EOF, as $(...) does
    assert proc.stdout == "done\n", proc.stderr
    (venv,) = sandbox.envs()
    deadline = time.monotonic() + 10  # it runs at idle priority: the first moment it gets
    while not (pids := compiler_pids(venv)) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert pids, "no compiler running (or it finished before the script: make it slower)"
    for pid in pids:
        # Not the script's pipes or terminal, not the use lock: only /dev/null and the home.
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                assert target == "/dev/null" or target.startswith(str(sandbox.home)), target
                assert not target.endswith(".use"), target
    # So remove goes ahead while it runs.
    assert sandbox.run("remove", str(script)).returncode == 0


def test_ctrl_c_after_uv_finished_costs_no_rebuild(sandbox: Sandbox) -> None:
    many_modules_wheel(sandbox)
    body = "import sys, manymods\nprint('started', flush=True)\nsys.stdin.readline()\n"
    script = sandbox.script("many.py", deps=("manymods",), body=body)
    # Once the script runs, uv has finished, and the compiler was started beside it.
    with in_background([str(script)], cwd=sandbox.scripts, env=sandbox.env, new_session=True) as p:
        os.killpg(p.pid, 2)  # Ctrl-C, to the whole foreground group
        p.finish()
    again = sandbox.run(str(script), input="\n")
    assert again.returncode == 0 and again.stderr == "", again.stderr  # no rebuild, no sync
    assert len(sandbox.envs()) == 1
