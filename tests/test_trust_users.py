"""Trust by construction (issue 26), as root beside a second local user made by the test.

Each test plants what another user of the machine could (an executable named like a
subcommand, a symlink, a directory of theirs, a FIFO, an endless pipe, a file name with
escape sequences) and checks that root never runs it, builds into it, follows it or
prints it raw. The second user is real (users.py): where one cannot be made, the tests
are skipped with the reason.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from conftest import (
    Sandbox,
    assert_one_line_error,
    block_handover,
    current_generation,
    edited_with_spare,
    installed,
    make_script,
    read_only,
    report,
    use_launcher,
)
from users import Stranger, shared_dir

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners and modes")

MARKER_BODY = "import pathlib, sys; pathlib.Path(sys.argv[0] + '.ran').write_text('ran')\n"


@pytest.fixture(params=["native", "python", "slow"])
def launch_path(request: pytest.FixtureRequest, sandbox: Sandbox) -> str:
    """Each launch path: the native launcher, the Python fast path, the slow path."""
    use_launcher(sandbox, "python" if request.param == "slow" else request.param)
    if request.param == "slow":
        sandbox.env["UVLAUNCH_NO_FAST_PATH"] = "1"
    return str(request.param)


def under_umask(umask: int, argv: list[str]) -> list[str]:
    """``argv`` started by a shell that first sets ``umask``."""
    return ["/bin/sh", "-c", f'umask {umask:03o}; exec "$@"', "sh", *argv]


def present(top: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Everything under ``top`` (itself included) with its ``lstat``. What vanishes
    meanwhile is skipped: uvlaunch's detached deleter may be emptying the trash of a
    generation an edit replaced (building/background.py)."""
    for where, dirs, files in os.walk(top):
        for entry in [where, *(os.path.join(where, n) for n in dirs + files)]:
            try:
                yield Path(entry), os.lstat(entry)
            except FileNotFoundError:
                continue


def writable_by_others(top: Path) -> list[str]:
    """Everything under ``top`` (itself included) that group or others may write."""
    found = [
        f"{entry} {stat.S_IMODE(st.st_mode):o}"
        for entry, st in present(top)
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o022
    ]
    return sorted(set(found))


# -- 1. a bare subcommand word is the subcommand, unless the file is one's own -------------


@pytest.mark.parametrize("launcher_kind", ["native", "python"])
@pytest.mark.parametrize("word", ["list", "gc", "dir"])
def test_a_subcommand_word_never_runs_another_users_file(
    sandbox: Sandbox, stranger: Stranger, launcher_kind: str, word: str
) -> None:
    use_launcher(sandbox, launcher_kind)
    shared = shared_dir(sandbox.root)
    planted = sandbox.script(word, deps=(), body=MARKER_BODY, directory=shared)
    stranger.own(planted)
    proc = sandbox.run(word, cwd=shared)
    assert proc.returncode == 0, proc.stderr
    assert not Path(f"{planted}.ran").exists(), "root ran another user's file"
    assert not sandbox.envs(), "root built an environment for another user's file"


@pytest.mark.parametrize(
    "how", ["root's file in another user's directory", "own file in a group-writable directory"]
)
def test_a_subcommand_word_in_a_directory_others_can_change_is_the_subcommand(
    sandbox: Sandbox, stranger: Stranger, how: str
) -> None:
    theirs = sandbox.root / "theirs"
    theirs.mkdir()
    if how.startswith("root's"):
        stranger.own(theirs)
    else:
        theirs.chmod(0o775)
    planted = sandbox.script("list", deps=(), body=MARKER_BODY, directory=theirs)
    proc = sandbox.run("list", cwd=theirs)
    assert proc.returncode == 0, proc.stderr
    assert not Path(f"{planted}.ran").exists()


def test_ones_own_script_named_like_a_subcommand_still_runs_in_a_sticky_directory(
    sandbox: Sandbox,
) -> None:
    shared = shared_dir(sandbox.root)
    sandbox.script("list", deps=(), body=MARKER_BODY, directory=shared)
    proc = sandbox.run("list", cwd=shared)
    assert proc.returncode == 0, proc.stderr
    assert (shared / "list.ran").exists(), proc.stdout


def test_another_users_symlink_named_like_a_subcommand_is_the_subcommand(
    sandbox: Sandbox, stranger: Stranger
) -> None:
    shared = shared_dir(sandbox.root)
    mine = sandbox.script("mine.py", deps=(), body=MARKER_BODY)
    link = shared / "gc"
    link.symlink_to(mine)
    stranger.own(link)
    proc = sandbox.run("gc", "--dry-run", cwd=shared)
    assert proc.returncode == 0, proc.stderr
    assert not Path(f"{shared / 'gc'}.ran").exists()


def test_a_hard_link_to_ones_own_script_in_a_shared_directory_is_the_subcommand(
    sandbox: Sandbox,
) -> None:
    # Where fs.protected_hardlinks is off, another user may link any file into /tmp.
    mine = sandbox.script("cleanup.py", deps=(), body=MARKER_BODY)
    shared = shared_dir(sandbox.root)
    os.link(mine, shared / "list")
    proc = sandbox.run("list", cwd=shared)
    assert proc.returncode == 0, proc.stderr
    assert not (shared / "list.ran").exists()


def test_a_word_swapped_by_another_user_in_a_loop_never_runs(
    sandbox: Sandbox, stranger: Stranger
) -> None:
    shared = shared_dir(sandbox.root)
    mine = sandbox.script("mine.py", deps=(), body=MARKER_BODY)
    theirs = sandbox.script("theirs", deps=(), body=MARKER_BODY, directory=shared)
    stranger.own(theirs)
    flip = (
        f"cd {shared} && while :; do ln -sf {mine} gc.new && mv -f gc.new gc; "
        "ln -f theirs gc.new 2>/dev/null && mv -f gc.new gc; rm -f gc; done"
    )
    with subprocess.Popen(["/bin/sh", "-c", flip], user=stranger.uid, group=stranger.gid) as loop:
        try:
            for _ in range(20):
                proc = sandbox.run("gc", "--dry-run", cwd=shared)
                assert proc.returncode == 0, proc.stderr
        finally:
            loop.kill()
    assert not Path(f"{mine}.ran").exists() and not (shared / "gc.ran").exists()
    assert not (shared / "theirs.ran").exists()


# -- 3. everything uvlaunch makes is private, whatever the umask --------------------------


UMASK_BODY = "import os; m = os.umask(0); os.umask(m); print('{\"umask\": %d}' % m)\n"


@pytest.mark.parametrize("umask", [0o000, 0o002])
def test_nothing_in_the_home_is_writable_by_others_under_a_loose_umask(
    sandbox: Sandbox, launch_path: str, umask: int
) -> None:
    script = sandbox.script(deps=("alpha",), body=UMASK_BODY)
    for _ in range(2):  # the first launch builds, the second is warm
        proc = sandbox.capture(under_umask(umask, [sandbox.command, str(script)]))
        # The script itself keeps the user's umask.
        assert report(proc) == {"umask": umask}
    assert writable_by_others(sandbox.home) == []


def test_the_homes_missing_parents_are_not_writable_by_others(sandbox: Sandbox) -> None:
    home = sandbox.root / "deep" / "er" / "home"
    env = {**sandbox.env, "UVLAUNCH_HOME": str(home)}
    script = sandbox.script(deps=())
    report(sandbox.capture(under_umask(0, [sandbox.command, str(script)]), env=env))
    assert writable_by_others(sandbox.root / "deep") == []
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


# -- 4. install's bin directory ----------------------------------------------------------


def install(
    sandbox: Sandbox, bin_dir: Path, umask: int = 0o022
) -> subprocess.CompletedProcess[str]:
    script = sandbox.script("tool.py", deps=(), body="print('tool ran')")
    env = {**sandbox.env, "UVLAUNCH_BIN_DIR": str(bin_dir)}
    return sandbox.capture(under_umask(umask, [sandbox.command, "install", str(script)]), env=env)


@pytest.mark.parametrize(
    "how", ["theirs", "world-writable", "their symlink", "inside theirs", "below world-writable"]
)
def test_install_refuses_a_bin_directory_others_control(
    sandbox: Sandbox, stranger: Stranger, how: str
) -> None:
    shared = shared_dir(sandbox.root, mode=0o777 if how == "below world-writable" else 0o1777)
    target = sandbox.root / "elsewhere"
    target.mkdir()
    bin_dir = shared / "bin"
    if how == "theirs":
        bin_dir.mkdir()
        stranger.own(bin_dir)
    elif how == "world-writable":
        bin_dir.mkdir()
        bin_dir.chmod(0o777)
    elif how == "their symlink":
        bin_dir.symlink_to(target)
        stranger.own(bin_dir)
    elif how == "inside theirs":
        theirs = shared / "theirs"
        theirs.mkdir()
        stranger.own(theirs)
        bin_dir = theirs / "bin"
    else:
        bin_dir.mkdir()
    assert_one_line_error(
        install(sandbox, bin_dir), str(bin_dir if how != "inside theirs" else bin_dir.parent)
    )
    assert not (target / "tool").exists() and not (bin_dir / "tool").exists()
    assert not bin_dir.exists() or how != "inside theirs"


def test_install_makes_its_bin_directory_0755_whatever_the_umask(sandbox: Sandbox) -> None:
    bin_dir = sandbox.root / "new" / "local" / "bin"
    proc = install(sandbox, bin_dir, umask=0)
    assert proc.returncode == 0, proc.stderr
    for d in (bin_dir, bin_dir.parent, bin_dir.parent.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755, d
    assert writable_by_others(sandbox.root / "new") == []


# -- 5. a lock file beside a script --------------------------------------------------------


SECRET = "root-secret-line-0123"


@pytest.fixture
def secret(sandbox: Sandbox) -> Path:
    """A file only root may read, as /etc/shadow."""
    path = sandbox.root / "shadow"
    path.write_text(f"{SECRET}\n")
    path.chmod(0o600)
    return path


def test_another_users_lock_file_symlink_is_refused_unread(
    sandbox: Sandbox, stranger: Stranger, launch_path: str, secret: Path
) -> None:
    shared = shared_dir(sandbox.root)
    script = sandbox.script(deps=(), body="print('{}')", directory=shared)
    report(sandbox.run(str(script)))  # launched once: warm, if nothing changes
    link = Path(f"{script}.lock")
    link.symlink_to(secret)
    stranger.own(link)
    proc = sandbox.run(str(script))
    line = assert_one_line_error(proc, str(link))
    assert SECRET not in proc.stdout + proc.stderr, line


def test_another_users_dangling_lock_file_symlink_is_refused(
    sandbox: Sandbox, stranger: Stranger, launch_path: str
) -> None:
    # Dangling now; theirs to point at any file once uvlaunch has looked away.
    shared = shared_dir(sandbox.root)
    script = sandbox.script(deps=(), body="print('{}')", directory=shared)
    link = Path(f"{script}.lock")
    link.symlink_to(shared / "not-yet")
    stranger.own(link)
    assert_one_line_error(sandbox.run(str(script)), str(link))


def test_ones_own_lock_file_symlink_to_a_file_of_ones_own_is_read(
    sandbox: Sandbox, launch_path: str
) -> None:
    script = sandbox.script(deps=("alpha",), body="print('{}')")
    locked = sandbox.uv("lock", "--script", str(script))
    assert locked.returncode == 0, locked.stderr
    real = sandbox.root / "kept.lock"
    Path(f"{script}.lock").rename(real)
    Path(f"{script}.lock").symlink_to(real)
    report(sandbox.run(str(script)))


def test_a_lock_file_symlink_to_a_fifo_is_refused_without_blocking(
    sandbox: Sandbox, stranger: Stranger
) -> None:
    shared = shared_dir(sandbox.root)
    script = sandbox.script(deps=(), body="print('{}')", directory=shared)
    fifo = shared / "fifo"
    os.mkfifo(fifo)
    stranger.own(fifo)
    Path(f"{script}.lock").symlink_to(fifo)  # root's own link, to another user's FIFO
    assert_one_line_error(sandbox.run(str(script), timeout=60), f"{script}.lock")


# -- 6. a home reached through another user's symlink --------------------------------------


@pytest.mark.parametrize("what", ["launch", "list"])
def test_a_home_through_another_users_symlink_is_refused(
    sandbox: Sandbox, stranger: Stranger, launch_path: str, what: str
) -> None:
    shared = shared_dir(sandbox.root)
    target = sandbox.root / "where-they-point"
    target.mkdir(mode=0o700)
    link = shared / "home"
    link.symlink_to(target)
    stranger.own(link)
    sandbox.env["UVLAUNCH_HOME"] = str(link)
    script = sandbox.script(deps=())
    proc = sandbox.run(str(script)) if what == "launch" else sandbox.run("list")
    assert_one_line_error(proc, str(link))
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("how", ["their directory above", "their symlink above"])
def test_no_warm_start_from_a_home_below_what_another_user_controls(
    sandbox: Sandbox, stranger: Stranger, launch_path: str, how: str
) -> None:
    shared = shared_dir(sandbox.root)
    theirs = shared / "theirs"
    theirs.mkdir()
    home = theirs / "home"
    sandbox.env["UVLAUNCH_HOME"] = str(home)
    script = sandbox.script(deps=())
    report(sandbox.run(str(script)))  # warm, while the way was root's
    if how == "their directory above":
        stranger.own(theirs)
    else:
        sandbox.env["UVLAUNCH_HOME"] = str(shared / "link" / "home")
        (shared / "link").symlink_to(theirs)
        stranger.own(shared / "link")
    with block_handover(sandbox) if launch_path == "native" else nullcontext():
        proc = sandbox.run(str(script))
    if launch_path == "native":
        assert proc.returncode == 99 and "handed over" in proc.stderr, proc.stdout
    else:
        assert_one_line_error(proc, "uid")


def test_a_home_through_ones_own_symlink_in_a_sticky_directory_is_used(
    sandbox: Sandbox, launch_path: str
) -> None:
    shared = shared_dir(sandbox.root)
    target = sandbox.root / "real-home"
    target.mkdir(mode=0o700)
    (shared / "home").symlink_to(target)
    sandbox.env["UVLAUNCH_HOME"] = str(shared / "home")
    script = sandbox.script(deps=())
    for _ in range(2):
        report(sandbox.run(str(script)))


# -- 7. bounded input, escaped names -------------------------------------------------------


def limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # stop a runaway read


@pytest.mark.parametrize("how", ["-", "/dev/stdin"])
def test_an_endless_pipe_is_refused_in_one_line(
    sandbox: Sandbox, launch_path: str, how: str
) -> None:
    with subprocess.Popen(["cat", "/dev/zero"], stdout=subprocess.PIPE) as source:
        proc = subprocess.run(
            [sandbox.command, how],
            stdin=source.stdout,
            env=sandbox.env,
            cwd=sandbox.scripts,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=limit_memory,
        )
        source.kill()
    assert_one_line_error(proc, "64 MiB")


NASTY = "evil\n2  live  3.12  0 B  just now  /forged\x1b]0;owned\x07\x1b[31m.py"


def test_names_with_control_characters_are_escaped(sandbox: Sandbox) -> None:
    script = sandbox.script(NASTY, deps=(), body="print('{}')")
    report(sandbox.run(str(script)))
    listed = sandbox.run("list")
    assert listed.returncode == 0, listed.stderr
    rows = [r for r in listed.stdout.splitlines() if not r.startswith("SIZE: ")]
    assert len(rows) == 2, listed.stdout  # the header and one row (and what SIZE counts)
    shown = sandbox.run("show", str(script))
    for proc in (listed, shown):
        assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
        assert "\\x1b]0;owned" in proc.stdout
    assert "/forged" not in "\n".join(line[:8] for line in shown.stdout.splitlines())
    script.unlink()
    collected = sandbox.run("gc")
    assert collected.returncode == 0, collected.stderr
    assert "\x1b" not in collected.stdout and "\\n2  live" in collected.stdout
    missing = sandbox.run(str(script))
    assert_one_line_error(missing, "\\x1b]0;owned")


# -- 8. root with another user's HOME ------------------------------------------------------


@pytest.mark.parametrize("what", ["launch", "list"])
def test_root_with_another_users_home_creates_nothing_there(
    sandbox: Sandbox, stranger: Stranger, launch_path: str, what: str
) -> None:
    theirs = sandbox.root / "their-home"
    theirs.mkdir(mode=0o755)
    stranger.own(theirs)
    sandbox.env.pop("UVLAUNCH_HOME")
    sandbox.env["HOME"] = str(theirs)
    script = sandbox.script(deps=())
    proc = sandbox.run(str(script)) if what == "launch" else sandbox.run("list")
    line = assert_one_line_error(proc, str(theirs), "sudo -H", "UVLAUNCH_HOME")
    assert "HOME" in line
    assert list(theirs.iterdir()) == []


def test_install_as_root_with_another_users_home_creates_nothing_there(
    sandbox: Sandbox, stranger: Stranger
) -> None:
    theirs = sandbox.root / "their-home"
    theirs.mkdir(mode=0o755)
    stranger.own(theirs)
    sandbox.env["HOME"] = str(theirs)
    script = sandbox.script("tool.py", deps=(), body="print('tool ran')")
    proc = sandbox.run("install", str(script))
    assert_one_line_error(proc, str(theirs), "sudo -H", "UVLAUNCH_BIN_DIR")
    assert list(theirs.iterdir()) == []


def test_a_home_another_user_owns_says_how_to_repair_it(
    sandbox: Sandbox, stranger: Stranger
) -> None:
    sandbox.home.mkdir(mode=0o700)
    stranger.own(sandbox.home)
    line = assert_one_line_error(sandbox.run("list"), str(sandbox.home))
    assert "chown -R" in line


# -- 9. a held index lock; exec and PATH ---------------------------------------------------


@pytest.fixture
def held_index_lock(sandbox: Sandbox) -> Iterator[int]:
    assert sandbox.run("dir").returncode == 0
    sandbox.home.mkdir(mode=0o700, exist_ok=True)
    (sandbox.home / "locks").mkdir(mode=0o700, exist_ok=True)
    fd = os.open(sandbox.home / "locks" / "index.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield fd
    finally:
        try:
            os.close(fd)
        except OSError:
            pass  # the test released it


def test_a_first_launch_waiting_for_the_index_lock_says_so(
    sandbox: Sandbox, launch_path: str, held_index_lock: int
) -> None:
    script = sandbox.script(deps=())
    with subprocess.Popen(
        [sandbox.command, str(script)],
        env=sandbox.env,
        cwd=sandbox.scripts,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        said, _, _ = select.select([proc.stderr], [], [], 90)
        line = proc.stderr.readline() if said else ""
        os.close(held_index_lock)
        _, err = proc.communicate(timeout=120)
    assert "waiting" in line and "index.lock" in line, line + err
    assert proc.returncode == 0, err


@pytest.mark.parametrize("entry", ["", "."])
def test_exec_looks_in_the_current_directory_only_when_path_says_dot(
    sandbox: Sandbox, entry: str
) -> None:
    script = sandbox.script(deps=())
    here = sandbox.root / "here"
    here.mkdir()
    tool = here / "tool"
    tool.write_text("#!/bin/sh\necho tool from here\n")
    tool.chmod(0o755)
    env = {**sandbox.env, "PATH": f"{sandbox.env['PATH']}:{entry}"}
    proc = sandbox.run("exec", str(script), "--", "tool", cwd=here, env=env)
    if entry == ".":
        assert proc.returncode == 0 and proc.stdout == "tool from here\n", proc.stderr
    else:
        assert proc.returncode == 127, proc.stdout
        assert "tool from here" not in proc.stdout


# -- the lock file's check-to-use window ----------------------------------------------------


def pinned_lock(sandbox: Sandbox, wheelhouse: Path, deps: tuple[str, ...]) -> bytes:
    """A lock file for a script of ``deps`` that pins alpha 1.0 (uv picks 2.0 without it)."""
    older = sandbox.root / "older-wheels"
    older.mkdir(exist_ok=True)
    for wheel in wheelhouse.glob("alpha-1.0-*.whl"):
        (older / wheel.name).write_bytes(wheel.read_bytes())
    maker = sandbox.root / "lock-maker"
    script = sandbox.script("s.py", deps=deps, directory=maker)
    locked = sandbox.uv(
        "lock", "--script", str(script), env={**sandbox.env, "UV_FIND_LINKS": str(older)}
    )
    assert locked.returncode == 0, locked.stderr
    return Path(f"{script}.lock").read_bytes()


@pytest.mark.parametrize("where", ["sticky", "world-writable"])
def test_a_lock_file_another_user_creates_and_deletes_in_a_loop_is_never_built_from(
    sandbox: Sandbox, wheelhouse: Path, stranger: Stranger, launch_path: str, where: str
) -> None:
    lock = pinned_lock(sandbox, wheelhouse, ("alpha",))
    # The attack works where uvlaunch does not stand in the way: a lock file beside a
    # script is what uv builds from.
    own = sandbox.script("own.py", deps=("alpha",), directory=sandbox.root / "own")
    Path(f"{own}.lock").write_bytes(lock)
    assert report(sandbox.run(str(own)))["alpha"] == "1.0"
    shared = shared_dir(sandbox.root, mode=0o1777 if where == "sticky" else 0o777)
    planted = shared / "their.lock"
    planted.write_bytes(lock)
    stranger.own(planted)
    script = shared / "s.py"
    flip = (
        f"cd {shared} && while :; do cp their.lock s.py.lock.new; "
        "mv -f s.py.lock.new s.py.lock; rm -f s.py.lock; done"
    )
    with subprocess.Popen(["/bin/sh", "-c", flip], user=stranger.uid, group=stranger.gid) as loop:
        try:
            for i in range(8):  # a first build, then an edit of the block each time
                deps = ("alpha",) if i % 2 == 0 else ("alpha", "beta")
                script.write_text(make_script(deps=deps))
                proc = sandbox.run(str(script))
                if proc.returncode == 0:
                    assert report(proc)["alpha"] == "2.0", "root built from another user's lock"
                else:  # the lock file was there when uvlaunch looked
                    assert_one_line_error(proc, f"{script}.lock")
        finally:
            loop.kill()
    lock_there = Path(f"{script}.lock")
    assert not lock_there.exists() or lock_there.lstat().st_uid == stranger.uid, (
        "root wrote a lock file into a directory others can write"
    )


def test_a_script_naming_relative_paths_in_a_directory_others_can_write_is_refused(
    sandbox: Sandbox, launch_path: str
) -> None:
    # uv would read what the relative path names, where another user may put it.
    shared = shared_dir(sandbox.root)
    script = shared / "s.py"
    text = make_script(deps=("mylib",)).replace(
        "# ///\n", '# [tool.uv.sources]\n# mylib = { path = "mylib" }\n# ///\n', 1
    )
    script.write_text(text)
    assert_one_line_error(sandbox.run(str(script)), str(script), "relative paths")
    assert not (shared / "s.py.lock").exists()


@pytest.mark.parametrize("name", ["home\nforged", "home\x1b]0;owned\x07"])
def test_a_path_with_control_characters_is_never_printed_for_a_shell(
    sandbox: Sandbox, name: str
) -> None:
    # `$(uvlaunch where s.py)` must be the path or nothing: escaped, it is another path.
    home = sandbox.root / name
    sandbox.env["UVLAUNCH_HOME"] = str(home)
    script = sandbox.script(deps=(), body="print('{}')")
    report(sandbox.run(str(script)))
    for argv in (["where", str(script)], ["where", "--python", str(script)], ["dir"]):
        proc = sandbox.run(*argv)
        line = assert_one_line_error(proc, "control characters")
        assert proc.stdout == "" and "\x1b" not in line and "\x07" not in line
    exact = sandbox.run("where", "--json", str(script))
    assert exact.returncode == 0, exact.stderr
    assert "\x1b" not in exact.stdout and "\x07" not in exact.stdout
    assert json.loads(exact.stdout)["environment"].startswith(str(home) + "/")
    for argv in (["list"], ["show", str(script)]):
        shown = sandbox.run(*argv)
        assert shown.returncode == 0, shown.stderr
        assert "\x1b" not in shown.stdout + shown.stderr and "\x07" not in shown.stdout


# -- a live attack: another user swapping what they can while root builds ------------------


SWAP = (
    'for p in {names}; do ln -sfn "$T" "$p.new" 2>/dev/null && mv -Tf "$p.new" "$p" 2>/dev/null; '
    'ln -sfn "$T" "$p" 2>/dev/null; mkdir "$p" 2>/dev/null; '
    'rm -f "$p" 2>/dev/null; rmdir "$p" 2>/dev/null; done; '
)
# ... with a lock file of theirs (pinning alpha 1.0) beside root's script half the time.
SWAPS = (
    "while :; do "
    'cp "$L" "$S.lock.tmp" 2>/dev/null && mv -f "$S.lock.tmp" "$S.lock" 2>/dev/null; '
    + SWAP.format(names="{first}")
    + 'rm -f "$S.lock"; '
    + SWAP.format(names="{second}")
    + "done"
)


def roots(top: Path) -> list[Path]:
    """What root made under ``top``."""
    return [p for p, st in present(top) if p != top and st.st_uid == 0]


@pytest.mark.parametrize("where", ["sticky", "their directory above"])
def test_another_user_swapping_what_they_can_never_redirects_roots_builds(
    sandbox: Sandbox, wheelhouse: Path, stranger: Stranger, launch_path: str, where: str
) -> None:
    lock = pinned_lock(sandbox, wheelhouse, ("alpha",))
    shared = shared_dir(sandbox.root)
    their_lock = shared / "their.lock"
    their_lock.write_bytes(lock)
    stranger.own(their_lock)
    theirs = shared / "theirs"  # where the stranger would have root write
    theirs.mkdir(mode=0o777)
    stranger.own(theirs)
    above = shared
    if where == "their directory above":
        above = shared / "above"
        above.mkdir(mode=0o755)
        stranger.own(above)
    homes = [above / f"home-{i}" for i in range(3)]
    script = shared / "s.py"
    script.write_text(make_script(deps=("alpha",)))
    inside = [
        f"{home}/{part}"
        for home in homes
        for part in ("envs", "tmp", "locks", "envs/s", "envs/s/g1", "envs/s/current")
    ]
    names = [*map(str, homes), *inside, f"{script}.lock"]
    half = len(names) // 2
    swaps = SWAPS.format(first=" ".join(names[:half]), second=" ".join(names[half:]))
    loop = subprocess.Popen(
        ["/bin/sh", "-c", swaps],
        user=stranger.uid,
        group=stranger.gid,
        env={"T": str(theirs), "L": str(their_lock), "S": str(script), "PATH": "/usr/bin:/bin"},
    )
    outcomes: list[str] = []
    try:
        for i in range(9):
            home = homes[i % 3]
            sandbox.env["UVLAUNCH_HOME"] = str(home)
            deps = ("alpha",) if i % 2 == 0 else ("alpha", "beta")
            script.write_text(make_script(deps=deps))  # a first build, or an edit
            for argv in ([str(script)], ["upgrade", str(script)]):
                proc = sandbox.run(*argv, timeout=300)
                if proc.returncode == 0:
                    if argv[0] == str(script):
                        assert report(proc)["alpha"] == "2.0", "built from their lock file"
                    outcomes.append("ran")
                else:  # refused in one line (upgrade's own report: exit 1, "S: failed: ...")
                    assert proc.returncode in (1, 2), proc.stderr
                    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
                    outcomes.append("refused")
                assert roots(theirs) == [], f"root wrote into theirs: {argv}"
    finally:
        loop.kill()
        loop.wait()
    assert list(theirs.iterdir()) == []
    if where == "their directory above":
        assert set(outcomes) == {"refused"}, outcomes
    for home in homes:
        if home.is_dir() and not home.is_symlink() and home.stat().st_uid == 0:
            assert writable_by_others(home) == []
            for entry, st in present(home):
                assert st.st_uid == 0, entry
                if stat.S_ISLNK(st.st_mode):
                    assert theirs not in entry.resolve().parents, entry


# -- a read-only home records its use outside it: never in another user's directory -------


@pytest.mark.parametrize("how", ["their state directory", "below their directory"])
def test_a_read_only_homes_use_is_never_recorded_in_another_users_directory(
    sandbox: Sandbox, stranger: Stranger, launch_path: str, how: str
) -> None:
    shared = shared_dir(sandbox.root)
    theirs = shared / "theirs"
    theirs.mkdir(mode=0o777)
    stranger.own(theirs)
    state = theirs if how == "their state directory" else theirs / "deeper" / "state"
    sandbox.env["UVLAUNCH_STATE_DIR"] = str(state)
    script = sandbox.script(deps=(), body="print('{}')")
    report(sandbox.run(str(script)))
    with read_only(sandbox.home):
        proc = sandbox.run(str(script))
    if launch_path != "slow":  # a warm start from a read-only home
        report(proc)
    assert roots(theirs) == [], "root wrote into another user's directory"


# -- copies share only what is root's own (building/thin.py, home/sharers.py) ------------


def _copies(sandbox: Sandbox) -> tuple[Path, Path]:
    one = sandbox.script("train.py", directory=sandbox.scripts / "run0")
    copy = sandbox.script("train.py", directory=sandbox.scripts / "run1")
    return one, copy


def _generation(sandbox: Sandbox, script: Path) -> Path:
    found = json.loads(sandbox.run("where", "--json", str(script)).stdout)
    return Path(found["environment"]).parent / found["generation"]


def _chown_tree(stranger: Stranger, top: Path) -> None:
    for where, dirs, files in os.walk(top):
        stranger.own(Path(where), *(Path(where) / n for n in dirs + files))


def test_a_copy_never_shares_another_users_generation(
    sandbox: Sandbox, stranger: Stranger, launch_path: str
) -> None:
    """A generation in root's home that another user owns (given to them, as a planted
    one would be) is never a source: root's copy builds its own, or refuses in one line."""
    from uvlaunch.home import sharers

    one, copy = _copies(sandbox)
    report(sandbox.run(str(one)))
    source = _generation(sandbox, one)
    _chown_tree(stranger, source)
    proc = sandbox.run(str(copy))
    if proc.returncode == 0:
        assert sharers.source_of(str(_generation(sandbox, copy))) is None
    else:
        assert_one_line_error(proc)
    assert not (source.parent / "sharers").exists() or not any(
        (source.parent / "sharers").iterdir()
    )


def test_a_planted_sharers_link_is_never_followed(
    sandbox: Sandbox, stranger: Stranger, launch_path: str
) -> None:
    """Another user's symlink in place of a source's ``sharers/`` directory: root writes
    no reference through it and deletes nothing behind it (gc's tidying included)."""
    one, copy = _copies(sandbox)
    report(sandbox.run(str(one)))
    source = _generation(sandbox, one)
    shared = shared_dir(sandbox.root)
    theirs = shared / "theirs"
    theirs.mkdir()
    (theirs / f"{source.name}.someone.g1").write_text("")
    stranger.own(theirs, theirs / f"{source.name}.someone.g1")
    link = source.parent / "sharers"
    link.symlink_to(theirs, target_is_directory=True)
    stranger.own(link)
    proc = sandbox.run(str(copy))
    assert proc.returncode == 0 or proc.stderr.count("\n") == 1, proc.stderr
    assert sorted(p.name for p in theirs.iterdir()) == [f"{source.name}.someone.g1"]
    sandbox.run("gc")
    sandbox.run("remove", str(copy))
    assert sorted(p.name for p in theirs.iterdir()) == [f"{source.name}.someone.g1"]


def test_a_planted_shared_marker_is_never_followed(
    sandbox: Sandbox, stranger: Stranger, launch_path: str
) -> None:
    """Another user's ``uvlaunch-shared`` in root's generation (a symlink to their file,
    or a file of theirs) does not make it thin: root neither reads through it nor keeps
    or rebuilds anything for it."""
    from uvlaunch.home import sharers

    one = sandbox.script("one.py")
    other = sandbox.script("other.py", deps=("alpha", "beta"))
    report(sandbox.run(str(one)))
    report(sandbox.run(str(other)))
    mine, victim = _generation(sandbox, one), _generation(sandbox, other)
    shared = shared_dir(sandbox.root)
    theirs = shared / "marker"
    theirs.write_text(f"{sharers.MAGIC}\n{victim.parent.name}\n{victim.name}\n")
    stranger.own(theirs)
    (mine / sharers.NAME).symlink_to(theirs)
    stranger.own(mine / sharers.NAME)
    assert sharers.source_of(str(mine)) is None
    (mine / sharers.NAME).unlink()
    planted = mine / sharers.NAME
    planted.write_text(theirs.read_text())
    stranger.own(planted)
    assert sharers.source_of(str(mine)) is None
    assert report(sandbox.run(str(one)))["prefix"] == str(mine)


# -- the next edit's generation, made ahead (building/spare.py) ---------------------------


SPARE_ATTACKS = [
    "note: their symlink",
    "note: their file",
    "note: their FIFO",
    "spare: their symlink",
    "spare: theirs",
    "spare: group-writable",
    "pointer: the current generation",
]


@pytest.mark.parametrize("how", SPARE_ATTACKS)
def test_an_edit_never_takes_a_spare_another_user_controls(
    sandbox: Sandbox, stranger: Stranger, how: str
) -> None:
    """The spare is taken only when it and its note are root's own and no one else's to
    write, and it is no generation a pointer names: else the edit clones, succeeds with
    the block's packages, and writes nothing through what was planted. (What is inside
    a spare of root's, no other user can change: it is root's 0755 directories, made by
    the clone, in root's 0700 envs/NAME, which env.check checks before the spare is
    unpointed.)"""
    script, top, made = edited_with_spare(sandbox)
    current, spare = current_generation(top).name, made.name
    note = made / "uvlaunch-spare"
    shared = shared_dir(sandbox.root)
    theirs = shared / "theirs"
    left_alone: list[Path] = []
    if how == "note: their symlink":
        theirs.write_text(f"{current}\n")  # what root's note says: the spare is of current
        stranger.own(theirs)
        note.unlink()
        note.symlink_to(theirs)
        stranger.own(note)
        left_alone.append(theirs)
    elif how == "note: their file":
        stranger.own(note)
    elif how == "note: their FIFO":
        note.unlink()
        os.mkfifo(note)
        stranger.own(note)
    elif how == "spare: their symlink":
        made.rename(theirs)
        _chown_dirs(stranger, theirs)
        made.symlink_to(theirs, target_is_directory=True)
        stranger.own(made)
        left_alone.append(theirs)
    elif how == "spare: theirs":
        _chown_dirs(stranger, made)
    elif how == "spare: group-writable":
        made.chmod(0o775)
    else:
        (top / "spare").unlink()
        (top / "spare").symlink_to(current)
        (top / current / "uvlaunch-spare").write_text(f"{current}\n")
        spare = current
    before = {p: (st.st_uid, st.st_mode, st.st_mtime_ns) for p, st in _all(left_alone)}
    script.write_text(make_script(deps=("alpha", "gamma")))
    # A FIFO must not block the edit: a bounded wait, not the test's whole time.
    new = Path(str(report(sandbox.run(str(script), timeout=60))["prefix"]))
    assert new.name != spare, f"the edit took the spare {spare} ({how})"
    assert installed(new) == {"alpha", "gamma"}
    assert [p for p, st in present(new) if st.st_uid != os.geteuid()] == []
    assert writable_by_others(new) == []
    after = {p: (st.st_uid, st.st_mode, st.st_mtime_ns) for p, st in _all(left_alone)}
    assert after == before, "root wrote through what another user planted"


def _chown_dirs(stranger: Stranger, top: Path) -> None:
    """Give ``top``'s directories to ``stranger``; its files are hard links that the
    current generation and uv's cache share, which would be theirs too."""
    for where, _, _ in os.walk(top):
        stranger.own(Path(where))


def _all(tops: list[Path]) -> list[tuple[Path, os.stat_result]]:
    """Everything under each of ``tops`` (a directory's tree, a file itself)."""
    found = []
    for top in tops:
        found += list(present(top)) if top.is_dir() else [(top, top.lstat())]
    return found
