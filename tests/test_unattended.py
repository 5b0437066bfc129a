"""Unattended use (cron, systemd, sudo): no terminal, a bare environment, a HOME that
cannot be written. What fails says why; what waits is quiet (docs/unattended.md).
"""

from __future__ import annotations

import pytest
from conftest import Sandbox, assert_one_line_error, execute, use_launcher

# The three ways a launch proceeds: the native launcher, the Python fast path, the slow path.
LAUNCH_PATHS = ["native", "python", "slow"]


def on_path(sandbox: Sandbox, path: str) -> dict[str, str]:
    """Make ``path`` the sandbox's way of launching; the environment to launch with."""
    use_launcher(sandbox, "python" if path == "slow" else path)
    return {**sandbox.env, "UVLAUNCH_NO_FAST_PATH": "1"} if path == "slow" else sandbox.env


@pytest.mark.parametrize("path", LAUNCH_PATHS)
@pytest.mark.parametrize("requires", [">=3.8", None])
def test_a_cache_uv_cannot_make_is_named_as_the_cause(
    sandbox: Sandbox, path: str, requires: str | None
) -> None:
    """A service whose HOME is not a writable directory, and no UV_CACHE_DIR: the error
    is uv's cache, and what to set, not "no installed Python satisfies requires-python"."""
    env = on_path(sandbox, path)
    env = {k: v for k, v in env.items() if k != "UV_CACHE_DIR"}
    env["HOME"] = "/dev/null"  # not a directory: no cache under it, even for root
    script = sandbox.script("job.py", deps=[], requires_python=requires)
    line = assert_one_line_error(execute(sandbox, script, env=env), str(script), "UV_CACHE_DIR")
    assert "uv cannot use its cache" in line and "/dev/null/.cache/uv" in line
    assert "no installed Python" not in line
