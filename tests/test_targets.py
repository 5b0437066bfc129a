"""What a word given to a command names (manage/targets.py, issue 29): a script, an
environment, or an installed command's name, by one rule for every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Sandbox, assert_one_line_error, make_script

from uvlaunch.errors import UnknownEnvironmentError, UvlaunchError
from uvlaunch.manage import targets


def installed_as(sandbox: Sandbox, script: Path, name: str) -> str:
    """Install ``script`` as the command ``name``; the name of its environment."""
    sandbox.env["UVLAUNCH_BIN_DIR"] = str(sandbox.root / "bin")
    proc = sandbox.run("install", str(script), "--name", name)
    assert proc.returncode == 0, proc.stderr
    proc = sandbox.run("show", str(script), "--json")
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["name"])


def test_a_command_name_is_taken_wherever_an_environment_name_is(sandbox: Sandbox) -> None:
    script = sandbox.script("greeter.py")
    env = installed_as(sandbox, script, "hello")
    shown = json.loads(sandbox.run("show", "hello", "--json").stdout)
    assert shown["name"] == env and shown["script"] == str(script)
    where = json.loads(sandbox.run("where", "hello", "--json").stdout)
    assert where["name"] == env and where["exists"]
    proc = sandbox.run("exec", "hello", "--", "python", "-c", "import alpha; print('in', 1)")
    assert (proc.returncode, proc.stdout) == (0, "in 1\n"), proc.stderr
    for command in (["upgrade", "hello"], ["reinstall", "hello"], ["rollback", "hello"]):
        proc = sandbox.run(*command)
        assert proc.returncode == 0, (command, proc.stderr)
        assert proc.stdout.startswith(f"{script}: "), (command, proc.stdout)
    # The command's path stands for its script too, here and from the bin directory.
    bindir = sandbox.root / "bin"
    assert json.loads(sandbox.run("show", str(bindir / "hello"), "--json").stdout)["name"] == env
    proc = sandbox.run("show", "hello", "--json", cwd=bindir)
    assert json.loads(proc.stdout)["name"] == env, proc.stderr
    proc = sandbox.run("remove", "hello")
    assert proc.returncode == 0, proc.stderr
    assert f"  removed the command {bindir / 'hello'}" in proc.stdout.splitlines()
    assert sandbox.env_dirs() == []


def test_a_name_of_both_an_environment_and_another_command_is_refused(sandbox: Sandbox) -> None:
    first = sandbox.script("first.py")
    second = sandbox.script("second.py", deps=("beta",))
    env = installed_as(sandbox, first, "first")
    other = installed_as(sandbox, second, env)  # a command named like first's environment
    for command in ("show", "where", "upgrade", "reinstall", "rollback", "remove"):
        assert_one_line_error(sandbox.run(command, env), env, other, "path")
    assert_one_line_error(sandbox.run("exec", env, "--", "true"), env, other, "path")
    assert len(sandbox.env_dirs()) == 2


def test_a_file_of_the_name_here_is_the_script(sandbox: Sandbox) -> None:
    script = sandbox.script("greeter.py")
    installed_as(sandbox, script, "hello")
    here = sandbox.scripts / "elsewhere"
    here.mkdir()
    local = here / "hello"
    local.write_text(make_script(deps=("beta",)))
    local.chmod(0o755)
    assert sandbox.run(str(local), cwd=here).returncode == 0
    shown = json.loads(sandbox.run("show", "hello", "--json", cwd=here).stdout)
    assert shown["script"] == str(local)


# -- the rule, without uv ---------------------------------------------------------------


def test_the_rule_for_a_word_that_is_no_file() -> None:
    envs = ["tool-0123456789", "other-9876543210"]
    commands = {"tool": {"tool-0123456789"}, "other-9876543210": {"tool-0123456789"}}
    assert targets.choose("tool-0123456789", env_names=envs, commands=commands) == (
        "tool-0123456789"
    )
    assert targets.choose("tool", env_names=envs, commands=commands) == "tool-0123456789"
    with pytest.raises(UvlaunchError, match=r"other-9876543210: is both .* tool-0123456789"):
        targets.choose("other-9876543210", env_names=envs, commands=commands)
    with pytest.raises(UnknownEnvironmentError):
        targets.choose("nothing", env_names=envs, commands=commands)
    # A command named like its own environment is no ambiguity.
    assert targets.choose("x-0123", env_names=["x-0123"], commands={"x-0123": {"x-0123"}}) == (
        "x-0123"
    )
    with pytest.raises(UvlaunchError, match="a-1, b-2"):
        targets.choose("dup", env_names=[], commands={"dup": {"a-1", "b-2"}})


@pytest.mark.parametrize("word", ["./x", "x.py", "a/b", "-", "."])
def test_path_like_words_are_scripts(word: str) -> None:
    assert targets.is_path_like(word)
    assert not targets.is_path_like("hello")


def test_a_file_here_without_an_environment_says_it_came_first(sandbox: Sandbox) -> None:
    script = sandbox.script("greeter.py")
    installed_as(sandbox, script, "hello")
    (sandbox.scripts / "hello").write_text("not a script\n")
    assert_one_line_error(sandbox.run("show", "hello"), "hello", "file here", "another directory")
