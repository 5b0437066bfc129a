"""Trust (issue 17): nothing another user plants, no interpreter swapped behind a path,
no second name of a file and no background compiler makes the wrong code run.

Tests run as root, so "another user" is a file chowned to an unused uid, or a
directory anyone may write to; a read-only home is a read-only bind mount in a
mount namespace of the test's own (``unshare``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import (
    PY_VERSION,
    UV,
    Sandbox,
    assert_one_line_error,
    execute,
    interpreter_dir,
    must_be_warm,
    report,
    site_packages,
)

STRANGER = 54321  # a uid no one on the test machine has


def only_env(sandbox: Sandbox) -> Path:
    (env,) = sandbox.envs()
    return env


def make_user_venv(sandbox: Sandbox) -> Path:
    """A throwaway venv standing for the user's own Python (what UV_PYTHON names)."""
    venv = sandbox.root / "users-python"
    proc = sandbox.capture([UV, "venv", "-q", str(venv)])
    assert proc.returncode == 0, proc.stderr
    return venv


# -- 0: writes outside the home ----------------------------------------------------


@pytest.mark.parametrize("command", [["reinstall"], ["upgrade", "--package", "alpha"]])
def test_reinstall_and_upgrade_never_write_into_uv_python(
    sandbox: Sandbox, command: list[str]
) -> None:
    script = sandbox.script(deps=("alpha",))
    report(execute(sandbox, script))
    users = make_user_venv(sandbox)
    env = dict(sandbox.env, UV_PYTHON=str(users / "bin" / "python"))
    proc = sandbox.run(*command, str(script), env=env)
    assert proc.returncode == 0, proc.stderr
    assert not list(site_packages(users).glob("alpha*")), "installed into the user's Python"
    assert report(execute(sandbox, script))["alpha"] == "2.0"


def test_reinstall_with_a_python_version_request_stays_in_the_environment(
    sandbox: Sandbox,
) -> None:
    script = sandbox.script(deps=("alpha==1.0",))
    report(execute(sandbox, script))
    env = dict(sandbox.env, UV_PYTHON=PY_VERSION)
    proc = sandbox.run("reinstall", str(script), env=env)
    assert proc.returncode == 0, proc.stderr
    assert report(execute(sandbox, script))["alpha"] == "1.0"


def test_uv_inside_exec_works_on_the_scripts_environment(sandbox: Sandbox) -> None:
    script = sandbox.script(deps=("alpha",))
    report(execute(sandbox, script))
    users = make_user_venv(sandbox)
    env = dict(sandbox.env, UV_PYTHON=str(users / "bin" / "python"), UV_SYSTEM_PYTHON="1")
    proc = sandbox.run("exec", str(script), "--", "uv", "pip", "list", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "alpha" in proc.stdout, proc.stdout
    proc = sandbox.run("exec", str(script), "--", "uv", "pip", "install", "-q", "beta", env=env)
    assert proc.returncode == 0, proc.stderr
    assert not list(site_packages(users).glob("beta*")), "installed into the user's Python"
    assert list(site_packages(only_env(sandbox)).glob("beta*"))


# -- 1: someone else's files under the home -----------------------------------------


HOME_PARTS = ["envs", "locks", "warm", "records", "index"]


def plant(path: Path, how: str) -> None:
    if how == "writable":
        path.chmod(0o777)
    else:
        os.chown(path, STRANGER, -1)


@pytest.mark.usefixtures("launcher")
@pytest.mark.parametrize("how", ["writable", "foreign"])
@pytest.mark.parametrize("part", [*HOME_PARTS, "ENV", "ENV/bin"])
def test_a_home_part_others_control_is_refused(sandbox: Sandbox, part: str, how: str) -> None:
    script = sandbox.script()
    report(execute(sandbox, script))
    report(execute(sandbox, script))  # warm now
    env = only_env(sandbox)
    path = env / "bin" if part == "ENV/bin" else env if part == "ENV" else sandbox.home / part
    plant(path, how)
    proc = execute(sandbox, script)
    line = assert_one_line_error(proc, str(path))
    assert "chmod" in line or "chown" in line, line
    assert proc.stdout == ""


@pytest.mark.usefixtures("launcher")
def test_a_symlinked_envs_directory_is_refused_on_a_warm_start(sandbox: Sandbox) -> None:
    script = sandbox.script()
    report(execute(sandbox, script))
    report(execute(sandbox, script))
    envs = sandbox.home / "envs"
    elsewhere = sandbox.root / "elsewhere"
    envs.rename(elsewhere)
    envs.symlink_to(elsewhere, target_is_directory=True)
    proc = execute(sandbox, script)
    assert_one_line_error(proc, str(envs), "symlink")
    assert proc.stdout == ""


@pytest.mark.usefixtures("launcher")
def test_a_symlinked_environment_directory_is_refused_on_a_warm_start(sandbox: Sandbox) -> None:
    script = sandbox.script()
    report(execute(sandbox, script))
    report(execute(sandbox, script))  # warm now
    (top,) = sorted((sandbox.home / "envs").iterdir())
    elsewhere = sandbox.root / "elsewhere"
    top.rename(elsewhere)
    top.symlink_to(elsewhere, target_is_directory=True)
    proc = execute(sandbox, script)
    assert_one_line_error(proc, str(top), "symlink")
    assert proc.stdout == ""


# -- 2, 3: the lock file beside a script ------------------------------------------------


def lock_beside(script: Path) -> Path:
    return script.with_name(script.name + ".lock")


@pytest.mark.parametrize("how", ["writable", "foreign"])
def test_a_planted_lock_file_is_refused(sandbox: Sandbox, how: str) -> None:
    script = sandbox.script(deps=("alpha",))
    proc = sandbox.uv("lock", "--script", str(script))
    assert proc.returncode == 0, proc.stderr
    lock = lock_beside(script)
    plant(lock, how)
    proc = execute(sandbox, script)
    assert_one_line_error(proc, str(lock))
    assert sandbox.envs() == []


def test_a_lock_file_of_the_scripts_owner_is_used(sandbox: Sandbox) -> None:
    script = sandbox.script(deps=("alpha",))
    assert sandbox.uv("lock", "--script", str(script)).returncode == 0
    lock = lock_beside(script)
    os.chown(script, STRANGER, -1)
    os.chown(lock, STRANGER, -1)  # the script's owner made it: as trusted as the script
    assert report(execute(sandbox, script))["alpha"] == "2.0"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "huge"])
def test_a_lock_file_that_is_not_a_sane_file_is_one_line(sandbox: Sandbox, kind: str) -> None:
    script = sandbox.script()
    lock = lock_beside(script)
    if kind == "fifo":
        os.mkfifo(lock)
    elif kind == "dev-zero":
        lock.symlink_to("/dev/zero")
    elif kind == "directory":
        lock.mkdir()
    else:
        with open(lock, "wb") as f:
            f.truncate(200 * 1024 * 1024)  # sparse: no disk used
    proc = execute(sandbox, script, timeout=60)
    assert_one_line_error(proc, str(lock))


# -- 4: subcommand words ---------------------------------------------------------------


@pytest.mark.usefixtures("launcher")
@pytest.mark.parametrize("word", ["dir", "show", "list", "where"])
def test_a_subcommand_word_is_the_subcommand(sandbox: Sandbox, word: str) -> None:
    # A file of that name, launched once (so it has a warm record), not executable.
    script = sandbox.script(word, body="print('the file ran')")
    script.chmod(0o644)
    proc = sandbox.run(f"./{word}")
    assert proc.stdout == "the file ran\n", proc.stderr
    proc = sandbox.run(word, *([] if word in ("dir", "list") else [f"./{word}"]))
    assert "the file ran" not in proc.stdout
    if word == "dir":
        assert proc.stdout.strip() == str(sandbox.home), proc.stderr


# -- 5: an interpreter swapped behind the same path ---------------------------------------


@pytest.mark.usefixtures("launcher")
def test_an_interpreter_swapped_behind_a_link_is_noticed(sandbox: Sandbox) -> None:
    other = next((v for v in ("3.12", "3.13", "3.10") if v != PY_VERSION), "")
    old_dir, new_dir = interpreter_dir(PY_VERSION), interpreter_dir(other)
    if old_dir is None or new_dir is None:
        pytest.skip("needs two Python versions installed")
    # A version-neutral name, as a distribution's python3 or a `current` link is.
    neutral = sandbox.root / "opt" / "python"
    neutral.parent.mkdir()
    neutral.symlink_to(Path(old_dir) / f"python{PY_VERSION}")
    body = "import sys, alpha; print('%d.%d' % sys.version_info[:2], alpha.VERSION)"
    script = sandbox.script(body=body, requires_python=">=3.10")
    env = dict(sandbox.env, UV_PYTHON=str(neutral))
    for _ in range(2):
        proc = execute(sandbox, script, env=env)
        assert proc.stdout.split() == [PY_VERSION, "2.0"], proc.stderr
    neutral.unlink()
    neutral.symlink_to(Path(new_dir) / f"python{other}")  # the distribution moved on
    proc = execute(sandbox, script, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [other, "2.0"], proc.stderr
    with must_be_warm(sandbox):
        proc = execute(sandbox, script, env=env)
    assert proc.stdout.split() == [other, "2.0"], proc.stderr
    shown = json.loads(sandbox.run("show", "--json", str(script)).stdout)
    assert shown["python"].startswith(f"{other}."), shown


@pytest.mark.usefixtures("launcher")
def test_a_patch_release_of_the_same_interpreter_keeps_the_environment(sandbox: Sandbox) -> None:
    real = Path(interpreter_dir(PY_VERSION) or "") / f"python{PY_VERSION}"
    if not real.exists():
        pytest.skip("needs the real interpreter")
    neutral = sandbox.root / "opt" / "python"
    neutral.parent.mkdir()
    neutral.symlink_to(real)
    script = sandbox.script()
    env = dict(sandbox.env, UV_PYTHON=str(neutral))
    report(execute(sandbox, script, env=env))
    (env_dir,) = sandbox.envs()
    marker = site_packages(env_dir) / "kept-marker"
    marker.write_text("")
    # Another file, the same version: what a package manager's in-place upgrade leaves.
    copy = sandbox.root / "opt" / "python-copy"
    shutil.copy2(real, copy)
    neutral.unlink()
    neutral.symlink_to(copy)
    report(execute(sandbox, script, env=env))
    assert marker.exists(), "rebuilt for a new file of the same Python version"
    with must_be_warm(sandbox):
        report(execute(sandbox, script, env=env))


# -- 6: a symlink retargeted during a launch ----------------------------------------------


def blocked_on(lock: Path, deadline: float = 60.0) -> bool:
    """Wait until some process waits for a flock on ``lock`` (Linux's /proc/locks)."""
    import time

    ino = lock.stat().st_ino
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for line in Path("/proc/locks").read_text().splitlines():
            if "->" in line and line.split()[-3].endswith(f":{ino}"):
                return True
        time.sleep(0.01)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/locks")
@pytest.mark.usefixtures("launcher")
def test_a_symlink_retargeted_during_a_launch_runs_one_scripts_code_in_its_own_env(
    sandbox: Sandbox,
) -> None:
    import fcntl

    body = "import alpha; print({!r}, alpha.VERSION)"
    a = sandbox.script("a/job.py", deps=("alpha==1.0",), body=body.format("A"))
    b = sandbox.script("b/job.py", deps=("alpha==2.0",), body=body.format("B"))
    current = sandbox.scripts / "current"
    for target in ("b", "a"):
        if current.is_symlink():
            current.unlink()
        current.symlink_to(target)
        for _ in range(2):
            proc = execute(sandbox, current / "job.py")
            assert proc.returncode == 0, proc.stderr
    assert execute(sandbox, current / "job.py").stdout.split() == ["A", "1.0"]
    assert b.exists()
    generation_a = json.loads(sandbox.run("where", "--json", str(a)).stdout)["environment"]
    use = Path(generation_a) / "uvlaunch-use"  # what a start of A locks (shared) first
    fd = os.open(use, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    out: list[subprocess.CompletedProcess[str]] = []
    t = threading.Thread(target=lambda: out.append(execute(sandbox, current / "job.py")))
    t.start()
    try:
        assert blocked_on(use)
        current.unlink()
        current.symlink_to("b")  # the deploy flips while the launch waits
    finally:
        os.close(fd)
        t.join(120)
    (proc,) = out
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["B", "2.0"], proc.stdout


# -- 7: closed standard streams ----------------------------------------------------------


FD_REPORT = """\
import os, sys
locks = os.path.join(os.environ["UVLAUNCH_HOME"], "locks")
inodes = {os.stat(os.path.join(locks, f)).st_ino for f in os.listdir(locks)}
def ino(fd):
    try:
        return os.fstat(fd).st_ino
    except OSError:
        return None
with open(sys.argv[1], "w") as out:
    out.write(" ".join(str(fd) for fd in (0, 1, 2) if ino(fd) in inodes))
"""


@pytest.mark.usefixtures("launcher")
@pytest.mark.parametrize("fd", [0, 1, 2])
def test_a_closed_standard_stream_never_becomes_a_lock(sandbox: Sandbox, fd: int) -> None:
    script = sandbox.script(body=FD_REPORT)
    found = sandbox.root / "found"
    assert execute(sandbox, script, str(found)).returncode == 0
    for _ in range(2):  # cold and warm
        found.unlink()
        proc = sandbox.capture(
            ["sh", "-c", f'exec {fd}>&-; exec "$0" "$1"', str(script), str(found)]
        )
        assert proc.returncode == 0, proc.stderr
        assert found.read_text() == "", f"fds {found.read_text()} are a lock file"
    for lock in (sandbox.home / "locks").iterdir():
        assert lock.stat().st_size == 0, lock


# -- 8: the background compiler and remove -----------------------------------------------


def test_the_compiler_never_brings_back_a_removed_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An environment removed while the compiler compiles one of its files stays removed."""
    from uvlaunch.building import bytecode

    env = tmp_path / "envs" / "name"
    pkg = env / "lib" / "python3" / "site-packages" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "mod.py").write_text("X = 1\n")
    trash = tmp_path / "trash"
    trash.mkdir()
    real_compile = compile

    def compile_while_removed(*args: object, **kwargs: object) -> object:
        # `uvlaunch remove` takes the environment out of use (one rename) meanwhile.
        if env.exists():
            env.rename(trash / "name.x")
        return real_compile(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(bytecode, "compile", compile_while_removed, raising=False)
    bytecode.compile_dirs([str(pkg.parent)], jobs=1, store=str(tmp_path / "pyc"))
    assert not env.exists(), sorted(str(p) for p in tmp_path.rglob("*"))


# -- 9: second names of one file ----------------------------------------------------------


def listing(sandbox: Sandbox) -> dict[str, dict[str, object]]:
    proc = sandbox.run("list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {str(e["name"]): e for e in json.loads(proc.stdout)}


def launched_with_a_second_name(sandbox: Sandbox) -> tuple[Path, Path]:
    """A script launched once, and a hard link to it: (the script, the link)."""
    script = sandbox.script("one.py")
    report(execute(sandbox, script))
    other = sandbox.scripts / "other.py"
    os.link(script, other)
    return script, other


@pytest.mark.usefixtures("launcher")
def test_a_hard_link_launched_the_slow_way_keeps_the_environment_known(
    sandbox: Sandbox,
) -> None:
    script, other = launched_with_a_second_name(sandbox)
    proc = sandbox.run("--no-fast-path", str(other))
    report(proc)
    (entry,) = listing(sandbox).values()
    assert entry["state"] == "live", entry
    assert entry["script"] in (str(script), str(other)), entry
    proc = sandbox.run("remove", str(other))
    assert proc.returncode == 0, proc.stderr
    assert "(piped)" not in proc.stdout, proc.stdout


@pytest.mark.usefixtures("launcher")
def test_gc_keeps_an_environment_while_another_name_of_its_file_remains(
    sandbox: Sandbox,
) -> None:
    script, other = launched_with_a_second_name(sandbox)
    report(execute(sandbox, other))
    report(sandbox.run("--no-fast-path", str(other)))
    script.unlink()  # the recorded name goes; the other stays
    proc = sandbox.run("gc")
    assert proc.returncode == 0, proc.stderr
    assert len(sandbox.envs()) == 1, proc.stdout
    (entry,) = listing(sandbox).values()
    assert entry["state"] == "live", entry
    assert entry["script"] == str(other), entry
    report(execute(sandbox, other))  # records the remaining name as the script's
    with must_be_warm(sandbox):
        report(execute(sandbox, other))


# -- 10: a read-only home -----------------------------------------------------------------


def read_only(sandbox: Sandbox, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with the home bind-mounted read-only over itself."""
    home = str(sandbox.home)
    shell = (
        f'mount --bind "{home}" "{home}" && mount -o remount,ro,bind "{home}" "{home}" && exec "$@"'
    )
    return sandbox.capture(["unshare", "-m", "sh", "-c", shell, "sh", *argv])


def can_mount() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    proc = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return proc.returncode == 0


@pytest.mark.skipif(not can_mount(), reason="needs unshare -m (root on Linux)")
@pytest.mark.usefixtures("launcher")
@pytest.mark.parametrize("how", ["warm", "no-warm-record", "touched"])
def test_a_complete_environment_starts_from_a_read_only_home(sandbox: Sandbox, how: str) -> None:
    script = sandbox.script()
    report(execute(sandbox, script))
    report(execute(sandbox, script))
    if how == "no-warm-record":
        for record in (sandbox.home / "warm").iterdir():
            record.unlink()
    elif how == "touched":
        os.utime(script, (1, 1))  # the block is compared, not the file's time
    proc = read_only(sandbox, [str(script)])
    assert report(proc)["alpha"] == "2.0"


@pytest.mark.skipif(not can_mount(), reason="needs unshare -m (root on Linux)")
def test_what_must_write_says_the_home_is_read_only(sandbox: Sandbox) -> None:
    script = sandbox.script()
    sandbox.home.mkdir(mode=0o700)  # there, but empty: the first launch must write
    proc = read_only(sandbox, [sandbox.command, str(script)])
    assert_one_line_error(proc, str(sandbox.home))


# -- quick: trust.py's checks on directories and files in tmp_path ---------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners and modes")
def test_dir_problem_names_each_kind_of_untrusted_directory(tmp_path: Path) -> None:
    from uvlaunch.home import trust

    ok = tmp_path / "ok"
    ok.mkdir(mode=0o700)
    assert trust.dir_problem(str(ok)) is None
    assert trust.dir_problem(str(tmp_path / "missing")) is None  # made 0700 when needed
    link = tmp_path / "link"
    link.symlink_to(ok)
    plain = tmp_path / "file"
    plain.write_text("")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o775)
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    expected = {
        link: "is a symlink",
        plain: "is not a directory",
        shared: "is writable by others (mode 775); run `chmod go-w",
    }
    if os.geteuid() == 0:
        os.chown(foreign, STRANGER, -1)
        expected[foreign] = f"is owned by uid {STRANGER}, not by you"
    for path, words in expected.items():
        problem = trust.dir_problem(str(path))
        assert problem is not None and problem.startswith(f"{path}: ") and words in problem


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners and modes")
def test_home_and_env_problems_check_every_directory_on_the_way(tmp_path: Path) -> None:
    from uvlaunch.contract import HOME_DIRS
    from uvlaunch.home import trust

    home = tmp_path / "home"
    for sub in HOME_DIRS:
        (home / sub).mkdir(parents=True, mode=0o700)
    assert trust.home_problem(str(home)) is None
    (home / HOME_DIRS[-1]).chmod(0o777)
    assert f"{home / HOME_DIRS[-1]}: is writable by others" in str(trust.home_problem(str(home)))
    env = tmp_path / "env"
    generation = env / "g1"
    (generation / "bin").mkdir(parents=True, mode=0o700)
    env.chmod(0o700)
    generation.chmod(0o700)
    assert trust.env_problem(str(env), str(generation)) is None
    (generation / "bin").chmod(0o757)
    problem = trust.env_problem(str(env), str(generation))
    assert f"{generation / 'bin'}: is writable by others" in str(problem)
    (generation / "bin").chmod(0o755)
    env.chmod(0o775)
    assert f"{env}: is writable by others" in str(trust.env_problem(str(env), str(generation)))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners and modes")
def test_side_file_problem(tmp_path: Path) -> None:
    from uvlaunch.home import trust

    lock = tmp_path / "job.py.lock"
    assert trust.side_file_problem(str(lock), os.geteuid()) is None  # none: nothing to say
    lock.write_text("version = 1\n")
    lock.chmod(0o644)
    assert trust.side_file_problem(str(lock), os.geteuid()) is None
    lock.chmod(0o666)
    assert "is writable by others" in str(trust.side_file_problem(str(lock), os.geteuid()))
    lock.chmod(0o644)
    if os.geteuid() == 0:
        os.chown(lock, STRANGER, -1)
        assert trust.side_file_problem(str(lock), STRANGER) is None  # the script's owner's
        assert "is owned by uid" in str(trust.side_file_problem(str(lock), os.geteuid()))
    lock.unlink()
    lock.mkdir()
    assert "is not a regular file" in str(trust.side_file_problem(str(lock), os.geteuid()))
