"""`uvlaunch install` and `uninstall` (issue 21): a script as a command on PATH.

Every test runs the real `uvlaunch` command and the real uv, offline, in the sandbox;
the commands go to a bin directory under the sandbox (UVLAUNCH_BIN_DIR) unless a test
is about where they go.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import (
    Sandbox,
    assert_one_line_error,
    in_background,
    make_script,
    must_be_warm,
    report,
    site_packages,
    use_launcher,
)

from uvlaunch.building import bytecode
from uvlaunch.manage import installed as commands


@pytest.fixture
def bindir(sandbox: Sandbox) -> Path:
    """The bin directory the tests install into; not created yet."""
    path = sandbox.root / "bin"
    sandbox.env["UVLAUNCH_BIN_DIR"] = str(path)
    return path


def plain_script(sandbox: Sandbox, name: str = "tool.py", **kw: object) -> Path:
    """A script with no shebang and no executable bit."""
    path = sandbox.scripts / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = make_script(**kw)  # type: ignore[arg-type]
    path.write_text(text.split("\n", 1)[1])
    path.chmod(0o644)
    return path


def install(sandbox: Sandbox, *args: str, env: dict[str, str] | None = None) -> str:
    proc = sandbox.run("install", *args, env=env)
    assert proc.returncode == 0, f"stdout:{proc.stdout}\nstderr:{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


def listing(sandbox: Sandbox) -> list[dict[str, object]]:
    proc = sandbox.run("list", "--json")
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout))


def warnings(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """What install says about PATH (after what uv says while it builds)."""
    lines = proc.stderr.splitlines()
    return [line for line in lines if line.startswith(("uvlaunch: warning:", "  export"))]


def entries(sandbox: Sandbox) -> list[Path]:
    d = sandbox.home / "commands"
    return sorted(d.iterdir()) if d.exists() else []


# -- what the command does ---------------------------------------------------------


def test_install_builds_the_environment_and_the_command_runs_offline(
    sandbox: Sandbox, launcher: str, bindir: Path
) -> None:
    script = plain_script(sandbox)
    out = install(sandbox, str(script))
    command = bindir / "tool"
    assert out == f"installed tool: {command} runs {script}\n"
    assert os.access(command, os.X_OK)
    (env,) = sandbox.envs()
    assert (env / "uvlaunch-stamp").exists()
    # Built at install time: no index, no cache needed from the first run on.
    shutil.rmtree(sandbox.cache)
    offline = dict(sandbox.env, UV_FIND_LINKS=str(sandbox.root / "nowhere"))
    with must_be_warm(sandbox):  # the native launcher starts it without Python
        out_ = report(sandbox.capture([str(command), "a", "b c"], env=offline))
    assert out_["argv"] == [str(script), "a", "b c"]
    assert out_["alpha"] == "2.0"
    assert out_["prefix"] == str(env)


def test_install_leaves_the_environment_byte_compiled_as_sync_does(
    sandbox: Sandbox, bindir: Path
) -> None:
    script = plain_script(sandbox, deps=["alpha", "gamma"])
    install(sandbox, str(script))
    (env,) = sandbox.envs()
    # Compiled before install returned: no background compiler was started for it.
    synced = (env / "uvlaunch-stamp").read_bytes().split(b"\0")
    done = (env / "uvlaunch-compiled").read_text().split()
    assert done[0] == synced[synced.index(b"synced") + 1].decode()
    sources = list(site_packages(env).rglob("*.py"))
    assert any(p.parent.name == "gamma" for p in sources)
    assert [p for p in sources if not bytecode._fresh(str(p))] == []


PASSTHROUGH = """\
import json, os, sys, time
if sys.argv[1] == "wait":
    print("started", os.getpid(), flush=True)
    time.sleep(60)
print(json.dumps({"argv": sys.argv[1:], "stdin": sys.stdin.read()}))
sys.exit(int(sys.argv[2]))
"""


def test_arguments_stdin_exit_status_and_signals_pass_through(
    sandbox: Sandbox, launcher: str, bindir: Path
) -> None:
    script = plain_script(sandbox, body=PASSTHROUGH)
    install(sandbox, str(script))
    command = str(bindir / "tool")
    args = ("run", "7", "--help", "-q", "a b", "", "*")
    through = sandbox.capture([command, *args], input="line 1\nline 2")
    direct = sandbox.run(str(script), *args, input="line 1\nline 2")
    assert through.returncode == direct.returncode == 7
    assert through.stdout == direct.stdout
    assert json.loads(through.stdout) == {"argv": list(args), "stdin": "line 1\nline 2"}
    assert through.stderr == direct.stderr == ""

    with in_background([command, "wait", "0"], env=sandbox.env) as running:
        # exec all the way: the shell, uvlaunch and the script are one process.
        assert int(running.line.split()[1]) == running.pid
        running.proc.send_signal(signal.SIGTERM)
        running.finish(timeout=30)
        assert running.returncode == -signal.SIGTERM


def test_edits_take_effect_without_reinstalling(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox, deps=["alpha==1.0"])
    install(sandbox, str(script))
    command = str(bindir / "tool")
    assert report(sandbox.capture([command]))["alpha"] == "1.0"
    script.write_text(script.read_text().replace('"alpha==1.0"', '"alpha==2.0"'))
    assert report(sandbox.capture([command]))["alpha"] == "2.0"
    body = "print('edited')\n"
    plain_script(sandbox, deps=["alpha==2.0"], body=body)
    assert sandbox.capture([command]).stdout == "edited\n"


def test_a_rename_in_place_is_followed_and_the_command_rewritten(
    sandbox: Sandbox, launcher: str, bindir: Path
) -> None:
    script = plain_script(sandbox)
    install(sandbox, str(script))
    command = bindir / "tool"
    (env,) = sandbox.envs()
    renamed = script.with_name("renamed.py")
    script.rename(renamed)  # not launched since: found by inode in its directory
    out = report(sandbox.capture([str(command), "x"]))
    assert out["argv"] == [str(renamed), "x"] and out["prefix"] == str(env)
    assert commands.script_of(command.read_bytes()) == str(renamed)
    (entry,) = listing(sandbox)
    assert entry["script"] == str(renamed) and entry["commands"] == [str(command)]
    with must_be_warm(sandbox):
        assert report(sandbox.capture([str(command)]))["argv"] == [str(renamed)]


def test_a_move_launched_at_its_new_path_is_followed(
    sandbox: Sandbox, launcher: str, bindir: Path
) -> None:
    script = plain_script(sandbox)
    install(sandbox, str(script))
    command = bindir / "tool"
    (env,) = sandbox.envs()
    moved = sandbox.root / "elsewhere" / "moved.py"
    moved.parent.mkdir()
    script.rename(moved)
    report(sandbox.run(str(moved)))  # uvlaunch updates the record, as for any move
    out = report(sandbox.capture([str(command)]))
    assert out["argv"] == [str(moved)] and out["prefix"] == str(env)
    assert commands.script_of(command.read_bytes()) == str(moved)


def test_a_command_whose_script_is_gone_says_so_in_one_line(
    sandbox: Sandbox, launcher: str, bindir: Path
) -> None:
    script = plain_script(sandbox)
    install(sandbox, str(script))
    script.unlink()
    proc = sandbox.capture([str(bindir / "tool"), "a"])
    assert_one_line_error(proc, str(bindir / "tool"), str(script), "is gone", "uninstall tool")
    assert proc.stdout == ""


def test_a_command_whose_uvlaunch_is_gone_says_so_in_one_line(
    sandbox: Sandbox, bindir: Path
) -> None:
    use_launcher(sandbox, "python")  # a uvlaunch this test may delete
    script = plain_script(sandbox)
    install(sandbox, str(script))
    uvlaunch = sandbox.root / "launcher" / "uvlaunch"
    assert commands.uvlaunch_of((bindir / "tool").read_bytes()) == str(uvlaunch)
    uvlaunch.unlink()
    proc = sandbox.capture([str(bindir / "tool")])
    assert_one_line_error(proc, str(bindir / "tool"), str(uvlaunch), "is gone")


def test_odd_script_paths(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox, 'it\'s a "tool" $HOME `x`\n.py')
    install(sandbox, str(script), "--name", "odd")
    assert report(sandbox.capture([str(bindir / "odd"), "'"]))["argv"] == [str(script), "'"]


# -- installing and uninstalling ---------------------------------------------------


def test_installing_the_same_script_again_is_a_no_op(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox)
    install(sandbox, str(script))
    command = bindir / "tool"
    before = command.stat()
    out = install(sandbox, str(script))
    assert out == f"tool is already installed: {command} runs {script}\n"
    after = command.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert len(entries(sandbox)) == 1


def test_a_file_uvlaunch_did_not_make_is_kept_unless_force(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox)
    bindir.mkdir()
    mine = bindir / "tool"
    mine.write_text("#!/bin/sh\necho mine\n")
    proc = sandbox.run("install", str(script))
    assert_one_line_error(proc, str(mine), "did not make", "--force")
    assert mine.read_text() == "#!/bin/sh\necho mine\n"
    assert sandbox.envs() == []  # refused before anything was built
    link = bindir / "linked"
    link.symlink_to(mine)
    assert_one_line_error(sandbox.run("install", str(script), "--name", "linked"), str(link))
    assert link.is_symlink()
    out = install(sandbox, str(script), "--force")
    assert out.startswith("installed tool:")
    assert report(sandbox.capture([str(mine)]))["argv"] == [str(script)]


def test_another_script_of_the_same_name_needs_force(sandbox: Sandbox, bindir: Path) -> None:
    first = plain_script(sandbox)
    second = plain_script(sandbox, "other/tool.py", body="print('second')\n")
    install(sandbox, str(first))
    proc = sandbox.run("install", str(second))
    assert_one_line_error(proc, str(bindir / "tool"), f"already runs {first}", "--force")
    out = install(sandbox, str(second), "--force")
    assert out == f"updated tool: {bindir / 'tool'} runs {second}\n"
    assert sandbox.capture([str(bindir / "tool")]).stdout == "second\n"
    (listed,) = [e for e in listing(sandbox) if e["commands"]]
    assert listed["script"] == str(second)


def test_uninstall_by_name_or_script_keeps_the_environment(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox)
    install(sandbox, str(script))
    install(sandbox, str(script), "--name", "tool2")
    proc = sandbox.run("uninstall", "tool")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"removed {bindir / 'tool'}\n"
    assert not (bindir / "tool").exists() and (bindir / "tool2").exists()
    proc = sandbox.run("uninstall", str(script))
    assert proc.stdout == f"removed {bindir / 'tool2'}\n"
    assert list(bindir.iterdir()) == [] and entries(sandbox) == []
    (env,) = listing(sandbox)
    assert env["commands"] == [] and env["complete"]
    assert_one_line_error(sandbox.run("uninstall", "tool"), "tool", "no command")


def test_uninstall_finds_a_command_in_another_bin_dir(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox)
    install(sandbox, str(script))
    elsewhere = dict(sandbox.env, UVLAUNCH_BIN_DIR=str(sandbox.root / "other-bin"))
    proc = sandbox.run("uninstall", "tool", env=elsewhere)
    assert proc.stdout == f"removed {bindir / 'tool'}\n", proc.stderr


def test_uninstall_never_removes_a_file_it_did_not_make(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox)
    install(sandbox, str(script))
    command = bindir / "tool"
    command.write_text("#!/bin/sh\necho replaced by hand\n")
    assert_one_line_error(sandbox.run("uninstall", "tool"), str(command), "did not make")
    assert_one_line_error(sandbox.run("uninstall", str(script)), "no command")
    assert command.read_text() == "#!/bin/sh\necho replaced by hand\n"
    # The marker alone is not enough where another user owns the file.
    install(sandbox, str(script), "--force")
    os.chown(command, 12345, -1)
    assert sandbox.run("uninstall", "tool").returncode == 2
    assert command.exists()


# -- list, show, gc, remove -----------------------------------------------------------


def test_list_and_show_give_the_commands(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox)
    other = sandbox.script("other.py", body="pass\n")
    assert sandbox.run(str(other)).returncode == 0
    assert "COMMANDS" not in sandbox.run("list").stdout  # only once some are installed
    install(sandbox, str(script))
    install(sandbox, str(script), "--name", "tool2")
    by_script = {e["script"]: e for e in listing(sandbox)}
    paths = [str(bindir / "tool"), str(bindir / "tool2")]
    assert by_script[str(script)]["commands"] == paths
    assert by_script[str(other)]["commands"] == []
    text = sandbox.run("list").stdout.splitlines()
    assert "COMMANDS" in text[0]
    assert any("tool,tool2" in line and str(script) in line for line in text[1:])
    shown = json.loads(sandbox.run("show", str(script), "--json").stdout)
    assert shown["commands"] == paths
    assert f"commands:      {paths[0]}, {paths[1]}" in sandbox.run("show", str(script)).stdout
    assert "commands:      none" in sandbox.run("show", str(other)).stdout


def test_gc_and_remove_remove_the_commands_of_what_they_remove(
    sandbox: Sandbox, bindir: Path
) -> None:
    gone = plain_script(sandbox, "gone.py")
    kept = plain_script(sandbox, "kept.py")
    removed = plain_script(sandbox, "removed.py")
    for script in (gone, kept, removed):
        install(sandbox, str(script))
    gone.unlink()
    dry = json.loads(sandbox.run("gc", "--dry-run", "--json").stdout)
    assert [r["commands"] for r in dry["removed"]] == [[str(bindir / "gone")]]
    assert (bindir / "gone").exists()
    proc = sandbox.run("gc")
    assert proc.returncode == 0, proc.stderr
    assert f"  removed the command {bindir / 'gone'}" in proc.stdout.splitlines()
    assert sorted(p.name for p in bindir.iterdir()) == ["kept", "removed"]
    proc = sandbox.run("remove", str(removed))
    assert proc.returncode == 0, proc.stderr
    assert f"  removed the command {bindir / 'removed'}" in proc.stdout.splitlines()
    assert sorted(p.name for p in bindir.iterdir()) == ["kept"]
    assert len(entries(sandbox)) == 1
    # A command replaced by hand since is not removed with its environment.
    (bindir / "kept").write_text("#!/bin/sh\necho mine\n")
    assert sandbox.run("remove", "--all").returncode == 0
    assert (bindir / "kept").read_text() == "#!/bin/sh\necho mine\n"
    assert entries(sandbox) == []


def test_entries_are_private_and_others_writable_ones_ignored(
    sandbox: Sandbox, bindir: Path
) -> None:
    script = plain_script(sandbox)
    install(sandbox, str(script))
    (entry,) = entries(sandbox)
    assert (entry.stat().st_mode & 0o777, entry.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    entry.chmod(0o620)
    (env,) = listing(sandbox)
    assert env["commands"] == []
    # gc and remove act on trusted entries only: the command stays.
    assert sandbox.run("remove", str(script)).returncode == 0
    assert (bindir / "tool").exists()


# -- the bin directory and names ---------------------------------------------------


def test_where_commands_go(sandbox: Sandbox) -> None:
    script = plain_script(sandbox)
    home_bin = Path(sandbox.env["HOME"]) / ".local" / "bin"
    install(sandbox, str(script), "--name", "a")  # created, with its parents
    assert (home_bin / "a").exists()
    xdg = sandbox.root / "xdg-bin"
    install(sandbox, str(script), "--name", "b", env=dict(sandbox.env, XDG_BIN_HOME=str(xdg)))
    assert (xdg / "b").exists()
    relative = dict(sandbox.env, XDG_BIN_HOME="relative/bin")  # ignored, as uv ignores it
    install(sandbox, str(script), "--name", "c", env=relative)
    assert (home_bin / "c").exists()
    ours = sandbox.root / "ours"
    both = dict(sandbox.env, XDG_BIN_HOME=str(xdg), UVLAUNCH_BIN_DIR=str(ours))
    install(sandbox, str(script), "--name", "d", env=both)
    assert (ours / "d").exists()
    bad = dict(sandbox.env, UVLAUNCH_BIN_DIR="relative/bin")
    assert_one_line_error(sandbox.run("install", str(script), env=bad), "UVLAUNCH_BIN_DIR")


def test_a_bin_dir_not_on_path_gets_the_line_to_add(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox)
    proc = sandbox.run("install", str(script))
    assert proc.returncode == 0, proc.stderr
    assert warnings(proc) == [
        f"uvlaunch: warning: {bindir} is not on your PATH; to run tool by its name, run:",
        f'  export PATH="{bindir}:$PATH"',
    ]
    on_path = dict(sandbox.env, PATH=os.pathsep.join([str(bindir), sandbox.env["PATH"]]))
    proc = sandbox.run("install", str(script), "--name", "tool2", env=on_path)
    assert proc.returncode == 0 and proc.stderr == ""
    ran = subprocess.run(["tool2"], env=on_path, capture_output=True, text=True)
    assert report(ran)["argv"] == [str(script)]


def test_a_command_hidden_by_an_earlier_one_on_path_is_pointed_out(
    sandbox: Sandbox, bindir: Path
) -> None:
    script = plain_script(sandbox, "ls.py")
    on_path = dict(sandbox.env, PATH=os.pathsep.join([sandbox.env["PATH"], str(bindir)]))
    proc = sandbox.run("install", str(script), env=on_path)
    assert proc.returncode == 0, proc.stderr
    first = shutil.which("ls", path=on_path["PATH"])
    why = f"uvlaunch: warning: {first} comes first on your PATH: `ls` runs that one"
    assert warnings(proc) == [why]


def test_a_bin_dir_under_a_file_is_one_line(sandbox: Sandbox) -> None:
    script = plain_script(sandbox)
    blocker = sandbox.root / "a-file"
    blocker.write_text("")
    env = dict(sandbox.env, UVLAUNCH_BIN_DIR=str(blocker / "bin"))
    proc = sandbox.run("install", str(script), env=env)
    assert_one_line_error(proc, str(blocker / "bin"), "cannot create")
    assert entries(sandbox) == [] and sandbox.envs() == []


def test_a_bin_dir_that_is_not_writable_is_one_line(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox)
    bindir.mkdir()
    bindir.chmod(0o555)
    argv = [sandbox.command, "install", str(script)]
    if os.geteuid() == 0:
        # Root writes anywhere: drop the capabilities that let it, as for any user.
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to run without CAP_DAC_OVERRIDE as root")
        argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *argv]
    proc = sandbox.capture(argv)
    assert_one_line_error(proc, str(bindir), "cannot write", "Permission denied")
    assert list(bindir.iterdir()) == [] and entries(sandbox) == []
    assert sandbox.envs() == []  # found out before anything was built


@pytest.mark.parametrize("name", ["a/b", ".hidden", "-x", "my tool", "", "..", "é"])
def test_unsafe_names_are_refused(sandbox: Sandbox, bindir: Path, name: str) -> None:
    script = plain_script(sandbox)
    assert_one_line_error(sandbox.run("install", str(script), "--name", name), "--name")
    assert not bindir.exists() and sandbox.envs() == []


def test_default_name_that_is_unsafe_and_names_that_would_hide_uvlaunch(
    sandbox: Sandbox, bindir: Path
) -> None:
    script = plain_script(sandbox, "my tool.py")
    assert_one_line_error(sandbox.run("install", str(script)), "'my tool'", "--name")
    for name in ("uvlaunch", "uvlaunch-py"):
        proc = sandbox.run("install", str(script), "--name", name, "--force")
        assert_one_line_error(proc, name, "hide uvlaunch")


def test_a_script_in_the_bin_dir_is_never_overwritten_by_its_command(
    sandbox: Sandbox, bindir: Path
) -> None:
    script = plain_script(sandbox, "../bin/tool")  # no .py: its name is the command's
    text = script.read_text()
    proc = sandbox.run("install", str(script), "--force")
    assert_one_line_error(proc, str(bindir / "tool"), "is the script itself", "--name")
    assert script.read_text() == text


def test_a_command_named_like_a_subcommand_runs_the_script(
    sandbox: Sandbox, launcher: str, bindir: Path
) -> None:
    script = plain_script(sandbox, "gc.py")
    install(sandbox, str(script))
    out = report(sandbox.capture([str(bindir / "gc"), "--dry-run"], cwd=bindir))
    assert out["argv"] == [str(script), "--dry-run"]


def test_a_script_uv_cannot_resolve_gets_no_command(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox, deps=["no-such-package"])
    proc = sandbox.run("install", str(script))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(f"uvlaunch: error: {script}")
    assert list(bindir.iterdir()) == [] and entries(sandbox) == []  # no half-written file


def test_uninstall_a_deleted_script_by_its_path(sandbox: Sandbox, bindir: Path) -> None:
    script = plain_script(sandbox)
    install(sandbox, str(script))
    script.unlink()
    proc = sandbox.run("uninstall", str(script))
    assert proc.stdout == f"removed {bindir / 'tool'}\n", proc.stderr
    assert "install" in sandbox.run("--help").stdout
    assert "--command" not in sandbox.run("run", "--help").stdout  # the commands' own
