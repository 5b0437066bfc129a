"""A model-based test of identity and generations (issue 25): invariants, not cases.

A hypothesis state machine drives the real ``uvlaunch`` and the real uv through random
sequences of steps: launches through each of the three launch paths (the native
launcher, the Python fast path, the slow path), ``mv``, ``ln``, ``cp``, ``rm``, block
edits, ``reinstall``, ``upgrade`` (a newer release appears), ``rollback``, ``gc``,
``remove``, launches killed at a random moment (their whole process group, uv included),
and scripts that keep running across the other steps and are killed or let finish. The
model is small: which file (an inode, followed through moves and links) each name holds,
the block each file has, the names each file was launched by. After every step it
checks what must always hold:

- a launch runs in an environment that satisfies the script's block, and ``where``
  names the environment that launch ran in;
- a file keeps one environment: every launch of it, by any name, runs in the same
  environment directory (until gc removed it when no name it was launched by was left);
- no environment is removed while a name its script was launched by still leads to
  the file (``where`` says it is complete);
- a running script's generation never changes: what it imports late comes from the
  generation it started in, which still exists while it runs;
- copies share (``cp``, a worktree's ``wt/a.py``): a generation that shares another's
  packages (building/thin.py) finds them for as long as it exists (no generation is
  removed while a thin one refers to it), and nothing shared changes through one
  script (``exec S -- uv pip install``, ``upgrade``, ``reinstall`` and ``rollback`` of
  one change no other environment's installed files).

Bounded for CI (``UVLAUNCH_MODEL_EXAMPLES``, ``UVLAUNCH_MODEL_STEPS`` run it longer).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import UVLAUNCH, UVLAUNCH_PY, Background, Sandbox, in_background, is_native
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from wheels import build_wheel

BODY = """\
import json, os, sys
print(json.dumps({"prefix": sys.prefix}), flush=True)
if os.environ.get("MODEL_WAIT"):
    sys.stdin.readline()  # the test lets it go on
import alpha  # a late import: after whatever steps ran meanwhile
print(json.dumps({"alpha": alpha.VERSION, "prefix": sys.prefix}), flush=True)
"""
# The block's dependency, and the versions that satisfy it. (A block that allows both
# keeps the version the environment had: an edit pins today's versions, as a sync would.)
BLOCKS = {"alpha": ("1.0", "2.0", "3.0"), "alpha<2": ("1.0",)}
PATHS = ["native", "python", "slow"]
NAMES = ["a.py", "b.py", "sub/c.py", "d.py", "wt/a.py"]  # wt/: a worktree's copy


def script_text(dep: str) -> str:
    return (
        "#!/usr/bin/env -S uvlaunch\n# /// script\n"
        f'# requires-python = ">=3.10"\n# dependencies = ["{dep}"]\n# ///\n' + BODY
    )


def installed_alpha(prefix: str) -> str:
    """The version of alpha installed in the generation ``prefix``."""
    (found,) = Path(prefix).glob("lib/python*/site-packages/alpha-*.dist-info")
    return found.name.removesuffix(".dist-info").split("-")[1]


class Running:
    """A script left running: its generation, and what its block gave when it started."""

    def __init__(self, proc: Background, prefix: str, version: str) -> None:
        self.proc = proc
        self.prefix = prefix
        self.version = version


class Identity(RuleBasedStateMachine):
    """One home, a few names, and the files behind them."""

    def __init__(self, sandbox: Sandbox, base: Path) -> None:
        super().__init__()
        Identity.count += 1
        self.root = base / f"ex{Identity.count}"
        self.scripts = self.root / "scripts"
        (self.scripts / "sub").mkdir(parents=True)
        (self.scripts / "wt").mkdir()
        # A find-links directory of its own: `upgrade` adds a newer alpha to it.
        self.wheels = self.root / "wheels"
        shutil.copytree(sandbox.env["UV_FIND_LINKS"], self.wheels)
        self.env = {
            **sandbox.env,
            "UVLAUNCH_HOME": str(self.root / "home"),
            "UV_FIND_LINKS": str(self.wheels),
        }
        self.files: dict[str, int] = {}  # name -> file id (an inode, followed by the model)
        self.block: dict[int, str] = {}  # file id -> its block's dependency
        self.launched: dict[int, set[str]] = {}  # file id -> names it was launched by
        self.env_of: dict[int, str] = {}  # file id -> its environment directory
        self.running: list[Running] = []
        self.next_id = 0

    count = 0

    # -- running uvlaunch -------------------------------------------------------------

    def uvlaunch(self, path: str, *args: str, **env: str) -> tuple[list[str], dict[str, str]]:
        command = UVLAUNCH if path == "native" else UVLAUNCH_PY
        environ = {**self.env, **env}
        if path == "slow":
            environ["UVLAUNCH_NO_FAST_PATH"] = "1"
        return [command, *args], environ

    def run(self, *args: str, path: str = "python") -> subprocess.CompletedProcess[str]:
        argv, environ = self.uvlaunch(path, *args)
        proc = subprocess.run(
            argv, cwd=self.scripts, env=environ, capture_output=True, text=True, timeout=300
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def where(self, name: str) -> dict[str, object]:
        proc = self.run("where", "--json", str(self.scripts / name))
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout))

    # -- steps --------------------------------------------------------------------------

    @rule(name=st.sampled_from(NAMES), dep=st.sampled_from(sorted(BLOCKS)))
    def create(self, name: str, dep: str) -> None:
        path = self.scripts / name
        if path.exists():
            return
        path.write_text(script_text(dep))
        path.chmod(0o755)
        self.next_id += 1
        self.files[name] = self.next_id
        self.block[self.next_id] = dep

    @precondition(lambda self: self.files)
    @rule(data=st.data(), path=st.sampled_from(PATHS))
    def launch(self, data: st.DataObject, path: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        fid = self.files[name]
        proc = self.run(str(self.scripts / name), path=path)
        assert proc.returncode == 0, proc.stderr
        out = [json.loads(line) for line in proc.stdout.splitlines()]
        prefix, version = out[-1]["prefix"], out[-1]["alpha"]
        assert version in BLOCKS[self.block[fid]], (name, self.block[fid], version)
        assert out[0]["prefix"] == prefix
        env_dir = str(Path(prefix).parent)
        if fid in self.env_of and os.path.isdir(self.env_of[fid]):
            assert env_dir == self.env_of[fid], f"{name}: a second environment for one file"
        self.env_of[fid] = env_dir
        self.launched.setdefault(fid, set()).add(name)
        found = self.where(name)
        assert str(Path(str(found["environment"])).parent) == env_dir, found
        assert found["exists"] is True, found

    @precondition(lambda self: self.files and len(self.running) < 2)
    @rule(data=st.data(), path=st.sampled_from(PATHS))
    def start_running(self, data: st.DataObject, path: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        fid = self.files[name]
        argv, environ = self.uvlaunch(path, str(self.scripts / name), MODEL_WAIT="1")
        context = in_background(argv, env=environ, cwd=self.scripts, ready="{")
        proc = context.__enter__()
        proc.context = context  # type: ignore[attr-defined]
        prefix = json.loads(proc.line)["prefix"]
        self.env_of[fid] = str(Path(prefix).parent)
        self.launched.setdefault(fid, set()).add(name)
        self.running.append(Running(proc, prefix, installed_alpha(prefix)))

    @precondition(lambda self: self.running)
    @rule(data=st.data(), kill=st.booleans())
    def stop_running(self, data: st.DataObject, kill: bool) -> None:
        running = self.running.pop(data.draw(st.integers(0, len(self.running) - 1)))
        if kill:
            running.proc.context.__exit__(None, None, None)  # type: ignore[attr-defined]
            return
        out, _ = running.proc.finish("\n")
        assert running.proc.returncode == 0
        # Its late import came from the generation it started in, as it was then.
        assert json.loads(out.splitlines()[-1]) == {
            "alpha": running.version,
            "prefix": running.prefix,
        }

    @precondition(lambda self: self.files)
    @rule(data=st.data(), dep=st.sampled_from(sorted(BLOCKS)))
    def edit(self, data: st.DataObject, dep: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        path = self.scripts / name
        with open(path, "r+") as f:  # in place: the same inode, as most editors save
            f.truncate(0)
            f.write(script_text(dep))
        self.block[self.files[name]] = dep

    @precondition(lambda self: self.files)
    @rule(data=st.data(), how=st.sampled_from(["mv", "ln", "cp"]), to=st.sampled_from(NAMES))
    def copy_or_move(self, data: st.DataObject, how: str, to: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        src, dst = self.scripts / name, self.scripts / to
        if dst.exists() or name == to:
            return
        fid = self.files[name]
        if how == "mv":
            src.rename(dst)
            del self.files[name]
            self.files[to] = fid
        elif how == "ln":
            os.link(src, dst)
            self.files[to] = fid
        else:
            shutil.copy2(src, dst)
            self.next_id += 1
            self.files[to] = self.next_id
            self.block[self.next_id] = self.block[fid]

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def rm(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        (self.scripts / name).unlink()
        del self.files[name]

    @rule()
    def gc(self) -> None:
        proc = self.run("gc")
        assert proc.returncode == 0, proc.stderr

    @precondition(lambda self: any(f in self.launched for f in self.files.values()))
    @rule(data=st.data(), what=st.sampled_from(["reinstall", "rollback"]))
    def manage(self, data: st.DataObject, what: str) -> None:
        names = sorted(n for n, f in self.files.items() if f in self.launched)
        name = data.draw(st.sampled_from(names))
        before = self.others_installed(name)
        proc = self.run(what, str(self.scripts / name))
        # rollback without an earlier generation, or a script edited since: one line.
        assert proc.returncode in (0, 1, 2), proc.stderr
        self.assert_unchanged(before, self.others_installed(name), what, name)

    @precondition(lambda self: any(f in self.launched for f in self.files.values()))
    @rule(data=st.data())
    def upgrade(self, data: st.DataObject) -> None:
        names = sorted(n for n, f in self.files.items() if f in self.launched)
        name = data.draw(st.sampled_from(names))
        if not list(self.wheels.glob("alpha-3.0-*.whl")):
            build_wheel(self.wheels, "alpha", "3.0")  # a release appears
        before = self.others_installed(name)
        proc = self.run("upgrade", str(self.scripts / name))
        assert proc.returncode in (0, 1), proc.stderr  # 1: an outcome says it failed
        self.assert_unchanged(before, self.others_installed(name), "upgrade", name)

    @precondition(lambda self: any(f in self.launched for f in self.files.values()))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        names = sorted(n for n, f in self.files.items() if f in self.launched)
        name = data.draw(st.sampled_from(names))
        proc = self.run("remove", str(self.scripts / name))
        assert proc.returncode == 0, proc.stderr
        fid = self.files[name]
        # Asked for: the environment may go (the generations scripts run in stay).
        self.launched.pop(fid, None)
        self.env_of.pop(fid, None)

    @precondition(lambda self: any(f in self.launched for f in self.files.values()))
    @rule(data=st.data())
    def exec_install(self, data: st.DataObject) -> None:
        """A command that writes into a script's environment: no other's changes."""
        names = sorted(n for n, f in self.files.items() if f in self.launched)
        name = data.draw(st.sampled_from(names))
        before = self.with_beta()
        proc = self.run("exec", str(self.scripts / name), "--", "uv", "pip", "install", "beta")
        assert proc.returncode == 0, proc.stderr
        mine = Path(str(self.where(name)["environment"])).resolve()
        assert self.with_beta() - before <= {mine}, (name, self.with_beta() - before)

    def others_installed(self, name: str) -> dict[Path, frozenset[str]]:
        """What is installed in each generation of every environment but ``name``'s (a
        thin one's through its link: the packages it runs with)."""
        mine = Path(str(self.where(name)["environment"])).parent.resolve()
        return {
            g: frozenset(p.name for p in g.glob("lib/python*/site-packages/*.dist-info"))
            for g in (self.root / "home" / "envs").glob("*/g*")
            if g.is_dir() and g.parent.resolve() != mine
        }

    @staticmethod
    def assert_unchanged(
        before: dict[Path, frozenset[str]], after: dict[Path, frozenset[str]], what: str, name: str
    ) -> None:
        """Changing one copy never changes another's installed files (issue 30)."""
        changed = [g for g in before.keys() & after.keys() if before[g] != after[g]]
        assert not changed, (what, name, changed)

    def with_beta(self) -> set[Path]:
        """The generations (resolved) in which beta can be imported."""
        return {
            g.resolve()
            for g in (self.root / "home" / "envs").glob("*/g*")
            if list(g.glob("lib/python*/site-packages/beta-*.dist-info"))
        }

    @precondition(lambda self: self.files)
    @rule(data=st.data(), path=st.sampled_from(PATHS), at=st.floats(0, 0.6))
    def kill_a_launch(self, data: st.DataObject, path: str, at: float) -> None:
        """A launch killed at a random moment (its whole process group, uv included)."""
        name = data.draw(st.sampled_from(sorted(self.files)))
        argv, environ = self.uvlaunch(path, str(self.scripts / name))
        proc = subprocess.Popen(
            argv,
            cwd=self.scripts,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # Any moment is a fair one to test: the time only spreads them (no speed assumed).
        time.sleep(at)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    # -- what must always hold ----------------------------------------------------------

    @invariant()
    def environments_of_launched_files_stay(self) -> None:
        for fid, launched_by in self.launched.items():
            live = [n for n in launched_by if self.files.get(n) == fid]
            if not live or fid not in self.env_of:
                continue
            # A name the file was launched by still leads to it: its environment stays.
            assert os.path.isdir(self.env_of[fid]), (fid, live, "environment removed")
            found = self.where(live[0])
            assert str(Path(str(found["environment"])).parent) == self.env_of[fid], found

    @invariant()
    def running_scripts_keep_their_generation(self) -> None:
        for running in self.running:
            assert os.path.isdir(running.prefix), "a running script's generation was removed"
            assert installed_alpha(running.prefix) == running.version, running.prefix

    @invariant()
    def shared_generations_find_their_packages(self) -> None:
        for thin in (self.root / "home" / "envs").glob("*/g*/uvlaunch-shared"):
            generation = thin.parent
            _, name, source = thin.read_text().split("\n")[:3]
            holder = generation.parent.parent / name / source
            assert (holder / "uvlaunch-stamp").is_file(), (generation, "its source is gone")
            (site,) = generation.glob("lib/python*/site-packages")
            assert site.resolve() == next(holder.glob("lib/python*/site-packages")).resolve()

    def teardown(self) -> None:
        for running in self.running:
            running.proc.context.__exit__(None, None, None)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_identity_and_generations_hold_under_any_sequence(sandbox: Sandbox, tmp_path: Path) -> None:
    if not is_native(UVLAUNCH):
        pytest.skip("the native launcher was not built (no C compiler?)")
    examples = int(os.environ.get("UVLAUNCH_MODEL_EXAMPLES", "6"))
    steps = int(os.environ.get("UVLAUNCH_MODEL_STEPS", "14"))
    run_state_machine_as_test(
        lambda: Identity(sandbox, tmp_path),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=True,  # the same sequences on every run: CI never flips on luck
            suppress_health_check=list(HealthCheck),
            database=None,
            # No shrinking: each step runs real launches, and the failing sequence,
            # printed as it ran, is short enough to read.
            phases=[Phase.explicit, Phase.generate],
        ),
    )
