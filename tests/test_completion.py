"""Shell completion (issue 29), typed into real interactive shells through a pty.

Each test starts bash, zsh or fish on a pseudo-terminal, sets completion up as the docs
say, types a partial line and a TAB, then turns the completed line into a ``printf``
(Ctrl-A, then the command in front of it) and runs it: what the shell completed is
what it prints. A shell that is not installed is skipped, saying so.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import time
from pathlib import Path

import pytest
from conftest import Sandbox, report

from uvlaunch.cli import completion

SHELLS = {
    "bash": (
        ["bash", "--norc", "--noprofile", "-i"],
        [
            "PS1='$ '",
            "bind 'set bell-style none'",
            'eval "$(_UVLAUNCH_COMPLETE=bash_source uvlaunch)"',
        ],
        "$(({n}+1))",
    ),
    "zsh": (
        ["zsh", "-f", "-i"],
        [
            "PS1='$ '",
            "bindkey -e",
            "autoload -Uz compinit && compinit -u",
            'eval "$(_UVLAUNCH_COMPLETE=zsh_source uvlaunch)"',
        ],
        "$(({n}+1))",
    ),
    "fish": (
        ["fish", "--no-config", "-i"],
        ["_UVLAUNCH_COMPLETE=fish_source uvlaunch | source"],
        "(math {n}+1)",
    ),
}
ANSI = re.compile(r"\x1b(\[[0-9;?=>]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-B]|[=>78M])")


class Shell:
    """An interactive shell on a pty, in ``cwd``, with ``env``."""

    def __init__(self, name: str, env: dict[str, str], cwd: Path) -> None:
        argv, self.setup, self.expr = SHELLS[name]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        self.count = 0
        self.seen = ""
        for line in self.setup:
            self.run(line)

    def read_until(self, marker: str, deadline: float = 120) -> str:
        end = time.monotonic() + deadline
        while marker not in self.seen:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} within {deadline} s:\n{self.seen[-3000:]}")
            if select.select([self.fd], [], [], left)[0]:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the shell exited:\n{self.seen[-3000:]}")
                self.seen += ANSI.sub("", chunk.decode("utf-8", "replace")).replace("\r", "")
        out, _, self.seen = self.seen.partition(marker)
        return out

    def run(self, line: str) -> str:
        """Type ``line`` (it may hold TABs and control keys), then a marker command; what
        the line printed."""
        self.count += 1
        done = self.expr.format(n=self.count)
        os.write(self.fd, f"{line}; echo DONE-{done}\r".encode())
        return self.read_until(f"DONE-{self.count + 1}")

    def complete(self, partial: str) -> list[str]:
        """The words of the line after TAB at the end of ``partial``."""
        printed = self.run(f"{partial}\t\x01printf '<%s>\\n' \x05")
        return re.findall(r"^<(.*)>$", printed, re.M)

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture(params=sorted(SHELLS))
def shell_name(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return name


@pytest.mark.usefixtures("launcher")
def test_completion_in_an_interactive_shell(sandbox: Sandbox, shell_name: str) -> None:
    sandbox.env["UVLAUNCH_BIN_DIR"] = str(sandbox.root / "bin")
    # The scripts are elsewhere: here, only the files the test completes.
    elsewhere = sandbox.root / "elsewhere"
    report(sandbox.run(str(sandbox.script("zebrafish.py", deps=(), directory=elsewhere))))
    greeter = sandbox.script("greeter.py", directory=elsewhere)
    assert sandbox.run("install", str(greeter), "--name", "hello").returncode == 0
    (env_name,) = [d.name for d in sandbox.env_dirs() if d.name.startswith("zebrafish-")]
    (sandbox.scripts / "bartender.py").write_text("print('hi')\n")
    (sandbox.scripts / "somefile.txt").write_text("")
    env = dict(sandbox.env, TERM="xterm", HISTFILE=os.devnull)
    shell = Shell(shell_name, env, sandbox.scripts)
    try:
        assert shell.complete("uvlaunch ./barte") == ["uvlaunch", "./bartender.py"]
        assert shell.complete("uvlaunch barte") == ["uvlaunch", "bartender.py"]
        assert shell.complete("uvlaunch -- barte") == ["uvlaunch", "--", "bartender.py"]
        assert shell.complete("uvlaunch -q ./bartender.py some") == [
            "uvlaunch",
            "-q",
            "./bartender.py",
            "somefile.txt",
        ]
        assert shell.complete("uvlaunch sh") == ["uvlaunch", "show"]
        assert shell.complete("uvlaunch show zebraf") == ["uvlaunch", "show", env_name]
        assert shell.complete("uvlaunch upgrade hel") == ["uvlaunch", "upgrade", "hello"]
        assert shell.complete("uvlaunch uninstall hel") == ["uvlaunch", "uninstall", "hello"]
        assert shell.complete("uvlaunch exec hello -- some") == [
            "uvlaunch",
            "exec",
            "hello",
            "--",
            "somefile.txt",
        ]
        assert shell.complete("uvlaunch where ./barte") == ["uvlaunch", "where", "./bartender.py"]
        assert shell.complete("uvlaunch list --js") == ["uvlaunch", "list", "--json"]
    finally:
        shell.close()


# -- the decisions, without a shell --------------------------------------------------


def words(args: list[str], incomplete: str) -> list[tuple[str, str]]:
    found = completion._uvlaunch_words(args, incomplete)
    return [] if found is None else [(i.type, i.value) for i in found]


def test_the_first_word_is_a_file_or_a_command() -> None:
    assert words([], "./b") == [("file", "./b")]
    assert words([], "sh") == [("file", "sh"), ("plain", "show")]
    assert words(["-q", "--no-fast-path"], "li") == [("file", "li"), ("plain", "list")]
    assert completion._uvlaunch_words([], "--ver") is None  # click: the group's options
    assert words(["--"], "list") == [("file", "list")]
    assert words(["./s.py"], "x") == words(["s.py", "a"], "x") == [("file", "x")]
    assert completion._uvlaunch_words(["show"], "x") is None  # click: show's argument
