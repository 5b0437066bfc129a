from __future__ import annotations

from conftest import Sandbox, report


def test_shebang_launch_creates_one_environment(sandbox: Sandbox) -> None:
    script = sandbox.script("hello.py")
    first = report(sandbox.run(str(script), "a", "--help"))
    assert first["alpha"] == "2.0"
    assert first["argv"] == [str(script), "a", "--help"]
    assert len(sandbox.envs()) == 1
    assert first["VIRTUAL_ENV"] == str(sandbox.envs()[0])
