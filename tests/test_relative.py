"""What a block means, not only what it says (issue 25, item 7): relative paths.

uv resolves a path source (``[tool.uv.sources] mylib = { path = "mylib" }``), and other
settings of a block given as paths, against the script's folder. The stamp records what
they resolve to (``scripts/relative.py``), so a move that changes it (``mv proj proj2``,
or the script alone into another folder) builds a new generation for the new meaning,
as an edit of the block does; a move that does not change it does not.

The package the block names is a directory built with uv's own build backend, which uv
runs without downloading anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import Sandbox, report, use_launcher

from uvlaunch.scripts import relative

# -- the quick tier: what counts as a relative path ---------------------------------


def block(*lines: str) -> str:
    return "\n".join(['dependencies = ["mylib"]', *lines]) + "\n"


def test_a_block_without_uv_settings_resolves_nothing() -> None:
    assert relative.resolved(None, "/p/s.py") == ""
    assert relative.resolved(block(), "/p/s.py") == ""
    assert relative.resolved(block("[tool.other]", 'path = "x"'), "/p/s.py") == ""


def test_path_sources_resolve_against_the_scripts_folder() -> None:
    text = block(
        "[tool.uv.sources]",
        'mylib = { path = "mylib", editable = true }',
        'other = { path = "../shared/other" }',
        'wheel = { path = "/abs/wheel-1.0-py3-none-any.whl" }',
        'git = { git = "https://example.invalid/x.git" }',
        'many = [{ path = "a", marker = "sys_platform == \'linux\'" }, { path = "./b" }]',
    )
    assert relative.resolved(text, "/p/proj/s.py").splitlines() == [
        "/p/proj/mylib",
        "/p/shared/other",
        "/p/proj/a",
        "/p/proj/b",
    ]
    # Moved as a whole, every path moves; a path above the folder that is the same place
    # from both folders does not.
    assert relative.resolved(text, "/q/proj2/s.py").splitlines()[0] == "/q/proj2/mylib"
    shared = block("[tool.uv.sources]", 'other = { path = "../shared/other" }')
    assert relative.resolved(shared, "/p/a/s.py") == relative.resolved(shared, "/p/b/s.py")


def test_find_links_and_indexes_given_as_paths_resolve_too() -> None:
    text = block(
        "[tool.uv]",
        'find-links = ["wheels", "https://example.invalid/links", "file:///abs/links"]',
        'index-url = "./simple"',
        'extra-index-url = ["../more"]',
        "[[tool.uv.index]]",
        'name = "local"',
        'url = "local-index"',
        "[[tool.uv.index]]",
        'name = "remote"',
        'url = "https://example.invalid/simple"',
    )
    assert relative.resolved(text, "/p/proj/s.py").splitlines() == [
        "/p/proj/wheels",
        "/p/proj/simple",
        "/p/more",
        "/p/proj/local-index",
    ]


def test_a_block_uv_cannot_read_resolves_nothing() -> None:
    # uv says what is wrong with it; nothing to record here.
    assert relative.resolved("[tool.uv\n", "/p/s.py") == ""
    assert relative.resolved('tool = "uv"\n', "/p/s.py") == ""
    assert relative.resolved("[tool.uv]\nsources = 3\n", "/p/s.py") == ""


# -- end to end: every launch path ----------------------------------------------------

BODY = """\
import json, sys
from importlib.metadata import distribution
import mylib
origin = json.loads(distribution("mylib").read_text("direct_url.json"))["url"]
print(json.dumps({"value": getattr(mylib, "VALUE", None), "origin": origin,
                  "prefix": sys.prefix}))
"""


def make_lib(folder: Path, value: str) -> None:
    """A package ``mylib`` in ``folder``, built by uv's own backend (no download)."""
    (folder / "src" / "mylib").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "mylib"\nversion = "1.0"\n'
        '[build-system]\nrequires = ["uv_build>=0.9,<1"]\nbuild-backend = "uv_build"\n'
    )
    (folder / "src" / "mylib" / "__init__.py").write_text(f"VALUE = {value!r}\n")


def make_script(path: Path, editable: bool) -> None:
    source = f'{{ path = "mylib", editable = {"true" if editable else "false"} }}'
    path.write_text(
        "#!/usr/bin/env -S uvlaunch\n# /// script\n"
        '# requires-python = ">=3.10"\n# dependencies = ["mylib"]\n'
        f"# [tool.uv.sources]\n# mylib = {source}\n# ///\n" + BODY
    )
    path.chmod(0o755)


@pytest.fixture(params=["native", "python", "slow"])
def how(request: pytest.FixtureRequest, sandbox: Sandbox) -> str:
    """Each launch path: the native launcher, the Python fast path, the slow path."""
    use_launcher(sandbox, "python" if request.param == "slow" else str(request.param))
    if request.param == "slow":
        sandbox.env["UVLAUNCH_NO_FAST_PATH"] = "1"
    return str(request.param)


@pytest.mark.parametrize("editable", [True, False], ids=["editable", "not-editable"])
def test_a_move_that_changes_what_a_path_source_means_syncs_for_it(
    sandbox: Sandbox, how: str, editable: bool
) -> None:
    proj = sandbox.scripts / "proj"
    make_lib(proj / "mylib", "one")
    make_script(proj / "s.py", editable)
    first = report(sandbox.run(str(proj / "s.py")))
    assert first["value"] == "one"
    assert first["origin"] == (proj / "mylib").as_uri()
    assert report(sandbox.run(str(proj / "s.py"))) == first  # warm: nothing changed

    # The folder renamed as a whole: the environment follows, and so does its mylib.
    proj2 = sandbox.scripts / "proj2"
    proj.rename(proj2)
    moved = report(sandbox.run(str(proj2 / "s.py")))
    assert moved["value"] == "one"
    assert moved["origin"] == (proj2 / "mylib").as_uri()
    assert moved["prefix"] != first["prefix"]  # a new generation, as for an edit
    assert report(sandbox.run(str(proj2 / "s.py")))["origin"] == moved["origin"]

    # The script alone, into a folder whose mylib is another one.
    other = sandbox.scripts / "other"
    make_lib(other / "mylib", "two")
    (proj2 / "s.py").rename(other / "s.py")
    there = report(sandbox.run(str(other / "s.py")))
    assert there["value"] == "two"
    assert there["origin"] == (other / "mylib").as_uri()
    assert len(sandbox.env_dirs()) == 1  # one environment throughout: the same script


def test_a_move_that_keeps_what_the_paths_mean_changes_nothing(sandbox: Sandbox) -> None:
    shared = sandbox.scripts / "shared"
    make_lib(shared / "mylib", "one")
    script = sandbox.scripts / "a" / "s.py"
    script.parent.mkdir()
    make_script(script, editable=True)
    script.write_text(script.read_text().replace('path = "mylib"', 'path = "../shared/mylib"'))
    first = report(sandbox.run(str(script)))
    stamp = Path(str(first["prefix"])) / "uvlaunch-stamp"
    synced = stamp.read_bytes().split(b"\0")
    (sandbox.scripts / "b").mkdir()
    moved = sandbox.scripts / "b" / "s.py"
    script.rename(moved)
    proc = sandbox.run(str(moved))
    assert report(proc) == first and "Installed" not in proc.stderr, proc.stderr
    after = stamp.read_bytes().split(b"\0")
    # Only where the script is changed in the stamp: not when it was synced.
    assert after[after.index(b"synced") + 1] == synced[synced.index(b"synced") + 1]
    assert os.fsencode(str(shared / "mylib")) in stamp.read_bytes()
    assert json.loads(sandbox.run("where", "--json", str(moved)).stdout)["exists"] is True
