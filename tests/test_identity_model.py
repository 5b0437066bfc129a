"""A model-based test of identity (issue 25): random steps, invariants after each.

Steps: launches through the native launcher, the Python fast path and the slow path,
``mv``, ``ln``, ``cp``, ``rm``, block edits (in place, the file keeps its inode) and
``gc``. The model knows each file (by what the test made of it, not by inode) and the
names it was launched by. Invariants:

- the environment a launch runs satisfies the script's block (the ``alpha`` it asks for);
- every launch of one file runs in that file's one environment (until gc removed it);
- ``where`` names the environment the launch ran in;
- gc removes no environment while a name its file was launched by still leads to it.

``mv`` and ``cp`` go to names never used before: a new file at a recorded path of a
script moved without a launch is taken for an editor's save of it, by design.
Bounded: a few examples of a few steps each, under a minute with the real uv.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from conftest import UVLAUNCH, UVLAUNCH_PY, Sandbox, is_native, isolated_env, make_script
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

PATHS = ["native", "python", "slow"]
PINS = {"1.0": "alpha==1.0", "2.0": "alpha==2.0"}
WHEELHOUSE: list[Path] = []


class File:
    """A file of the model: its names, the names it was launched by, its environment."""

    def __init__(self, name: str, version: str) -> None:
        self.names = {name}
        self.launched: set[str] = set()
        self.version = version
        self.env: str | None = None  # envs/NAME, once launched


class Identity(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="uvlaunch-model-"))
        scripts = self.tmp / "scripts"
        scripts.mkdir()
        env = isolated_env(self.tmp, WHEELHOUSE[0])
        env["UVLAUNCH_COMPILE_BYTECODE"] = "0"  # nothing in the background between steps
        self.sandbox = Sandbox(
            root=self.tmp,
            home=Path(env["UVLAUNCH_HOME"]),
            cache=Path(env["UV_CACHE_DIR"]),
            scripts=scripts,
            env=env,
        )
        native = self.tmp / "native"
        native.mkdir()
        shutil.copy(UVLAUNCH, native / "uvlaunch")
        (native / "uvlaunch-py").symlink_to(UVLAUNCH_PY)
        self.launchers = {"native": str(native / "uvlaunch"), "python": UVLAUNCH_PY}
        self.count = 0
        self.live: list[File] = []

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fresh(self) -> str:
        self.count += 1
        return str(self.sandbox.scripts / f"s{self.count}.py")

    def write(self, path: str, version: str) -> None:
        Path(path).write_text(make_script(deps=[PINS[version]]))

    @initialize(version=st.sampled_from(sorted(PINS)))
    def first(self, version: str) -> None:
        self.create(version)

    def create(self, version: str) -> File:
        path = self.fresh()
        self.write(path, version)
        f = File(path, version)
        self.live.append(f)
        return f

    # One rule, the operation drawn from a list where launches come often: hypothesis
    # draws rules evenly, and most of what can go wrong shows at a launch.
    @rule(
        op=st.sampled_from([*["launch"] * 5, "mv", "ln", "cp", "rm", "edit", "gc", "create"]),
        which=st.integers(0, 99),
        pick=st.integers(0, 99),
        path=st.sampled_from(PATHS),
        version=st.sampled_from(sorted(PINS)),
    )
    def step(self, op: str, which: int, pick: int, path: str, version: str) -> None:
        if op == "create":
            self.create(version)
            return
        if op == "gc":
            self.gc()
            return
        alive = [f for f in self.live if f.names]
        if not alive:
            return
        f = alive[which % len(alive)]
        name = sorted(f.names)[pick % len(f.names)]
        if op == "launch":
            self.launch(f, name, path)
        elif op == "mv":
            new = self.fresh()
            os.rename(name, new)
            f.names = (f.names - {name}) | {new}
            f.launched.discard(name)
        elif op == "ln":
            new = self.fresh()
            os.link(name, new)
            f.names.add(new)
        elif op == "cp":
            new = self.fresh()
            shutil.copy(name, new)
            self.live.append(File(new, f.version))
        elif op == "rm":
            os.unlink(name)
            f.names.discard(name)
            f.launched.discard(name)
        else:
            self.write(name, version)  # in place: the same inode
            f.version = version

    def launch(self, f: File, name: str, path: str) -> None:
        env = dict(self.sandbox.env)
        if path == "slow":
            env["UVLAUNCH_NO_FAST_PATH"] = "1"
        launcher = self.launchers["python" if path == "slow" else path]
        if path == "native" and not is_native(launcher):
            launcher = self.launchers["python"]
        proc = self.sandbox.capture([launcher, name], env=env, timeout=120)
        assert proc.returncode == 0, f"{path} {name}: {proc.stderr}"
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["alpha"] == f.version, (path, name, out)
        env_dir = os.path.dirname(str(out["prefix"]))
        if f.env is not None and os.path.isdir(f.env):
            assert env_dir == f.env, (path, name, f.env, env_dir)
        f.env = env_dir
        f.launched.add(name)
        where = self.sandbox.run("where", "--json", name)
        assert where.returncode == 0, where.stderr
        shown = json.loads(where.stdout)["environment"]
        assert os.path.realpath(shown) == os.path.realpath(str(out["prefix"])), (shown, out)

    def gc(self) -> None:
        proc = self.sandbox.run("gc")
        assert proc.returncode == 0, proc.stderr
        for f in self.live:
            if f.env is not None and not os.path.isdir(f.env):
                # Removed: then no name it was launched by may still lead to the file.
                assert not (f.launched & f.names), (f.launched, f.names, proc.stdout)
                f.env = None

    @invariant()
    def launched_names_are_names(self) -> None:
        for f in self.live:
            assert f.launched <= f.names


def test_identity_model(wheelhouse: Path) -> None:
    WHEELHOUSE[:] = [wheelhouse]
    run = Identity.TestCase
    run.settings = settings(
        max_examples=int(os.environ.get("UVLAUNCH_MODEL_EXAMPLES", "6")),
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    run("runTest").runTest()
