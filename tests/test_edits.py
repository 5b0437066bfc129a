"""A block edit is a new generation (issue 25, items 2 and 3), through every launch path.

A running script's generation never changes: an edit builds beside it and flips, like
an upgrade. A failed edit leaves the current generation exactly as it was: not one of
its files is rewritten, whatever else (the background byte-compiler) runs meanwhile.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import Sandbox, in_background, make_script

WAITS = """\
import json, sys
print(json.dumps({"prefix": sys.prefix}), flush=True)
sys.stdin.readline()  # the test lets it go on
import alpha  # a lazy import: after the edit below
print(json.dumps({"alpha": alpha.VERSION, "prefix": sys.prefix}), flush=True)
"""


def where(sandbox: Sandbox, script: Path) -> dict[str, str]:
    proc = sandbox.run("where", "--json", str(script))
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_a_block_edit_never_changes_a_running_scripts_generation(
    sandbox: Sandbox, launch_path: str
) -> None:
    script = sandbox.script(deps=("alpha",), body=WAITS)  # alpha 2.0, the newest
    with in_background([sandbox.command, str(script)], env=sandbox.env, ready="{") as running:
        first = json.loads(running.line)["prefix"]
        script.write_text(make_script(deps=("alpha<2",), body=WAITS))
        with in_background([sandbox.command, str(script)], env=sandbox.env, ready="{") as edited:
            second = json.loads(edited.line)["prefix"]
            out, _ = edited.finish("\n")
            assert json.loads(out.splitlines()[-1])["alpha"] == "1.0"
        assert second != first  # a new generation, beside the one still running
        out, _ = running.finish("\n")
        # It imports alpha only now: from the generation it started in, unchanged.
        assert json.loads(out.splitlines()[-1]) == {"alpha": "2.0", "prefix": first}
    assert running.returncode == 0


def _snapshot(generation: Path) -> dict[str, tuple[int, int]]:
    """Every file of a generation but the compiler's, by (inode, mtime): what a change
    of any of them, a rewrite in place or by rename, shows as."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(generation):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for f in filenames:
            if f.startswith("uvlaunch-compiled") or f == "uvlaunch-use":
                continue
            st = os.lstat(os.path.join(dirpath, f))
            found[os.path.relpath(os.path.join(dirpath, f), generation)] = (
                st.st_ino,
                st.st_mtime_ns,
            )
    return found


def test_a_failed_edit_leaves_the_current_generation_untouched(
    sandbox: Sandbox, launch_path: str
) -> None:
    script = sandbox.script(deps=("alpha",))
    assert sandbox.run(str(script)).returncode == 0
    generation = Path(where(sandbox, script)["environment"])
    before = _snapshot(generation)
    good = script.read_text()
    script.write_text(make_script(deps=("alpha", "does-not-exist-anywhere")))
    proc = sandbox.run(str(script))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "left as it was" in proc.stderr
    # Not one file of the generation was rewritten, its stamp included (it stays
    # complete for the block it was built for, whatever else ran meanwhile).
    assert _snapshot(generation) == before
    script.write_text(good)
    proc = sandbox.run(str(script))
    assert proc.returncode == 0, proc.stderr
    assert "rebuilding" not in proc.stderr
    assert Path(where(sandbox, script)["environment"]) == generation
