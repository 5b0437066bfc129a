"""A generation cloned by hard links (clone.py), by several threads: every file of a deep
tree, the same inodes, and an error in any thread raised whole.

Quick tests, no uv: the edit that uses the clone is tested in test_edits.py.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from uvlaunch.building import clone
from uvlaunch.errors import HomeError


def _tree(top: Path) -> None:
    """A generation's shape: bin/ naming its interpreter, and many packages of nested
    directories with modules and __pycache__."""
    (top / "bin").mkdir(parents=True)
    (top / "bin" / "tool").write_text(f"#!{top}/bin/python\nprint('tool')\n")
    (top / "bin" / "plain").write_text("no path here\n")
    os.symlink("/usr/bin/python3", top / "bin" / "python")
    (top / "pyvenv.cfg").write_text("home = /usr/bin\n")
    site = top / "lib" / "python3.11" / "site-packages"
    for p in range(12):
        for d in range(6):
            deep = site / f"pkg{p}" / f"sub{d}" / "inner"
            (deep / "__pycache__").mkdir(parents=True)
            for m in range(4):
                (deep / f"m{m}.py").write_text(f"X = {p * d * m}\n")
                (deep / "__pycache__" / f"m{m}.cpython-311.pyc").write_bytes(b"pyc")
            (deep / "__pycache__" / "m0.cpython-311.pyc.1234").write_bytes(b"partial")


def _files(top: Path) -> dict[str, os.stat_result]:
    return {
        str(p.relative_to(top)): p.lstat() for p in top.rglob("*") if p.is_file() or p.is_symlink()
    }


def test_every_file_is_linked_and_bin_names_the_new_generation(tmp_path: Path) -> None:
    current, new = tmp_path / "g1", tmp_path / "g2"
    _tree(current)
    new.mkdir()
    before = threading.active_count()
    clone.clone_into(str(current), str(new), skeleton=True)
    assert threading.active_count() == before

    old_files, new_files = _files(current), _files(new)
    partial = {k for k in old_files if k.endswith(".pyc.1234")}
    assert set(new_files) == set(old_files) - partial
    site = [k for k in new_files if k.startswith("lib/")]
    assert len(site) == 12 * 6 * 8
    assert all(new_files[k].st_ino == old_files[k].st_ino for k in site)
    assert (new / "bin" / "tool").read_text() == f"#!{new}/bin/python\nprint('tool')\n"
    assert new_files["bin/tool"].st_ino != old_files["bin/tool"].st_ino
    assert new_files["bin/plain"].st_ino == old_files["bin/plain"].st_ino
    assert os.readlink(new / "bin" / "python") == "/usr/bin/python3"
    assert (current / "bin" / "tool").read_text().startswith(f"#!{current}/bin/python\n")


@pytest.mark.parametrize(
    "depth", ["lib/python3.11/site-packages/pkg7", "lib/python3.11/site-packages/pkg3/sub4/inner"]
)
def test_an_error_in_any_thread_is_raised_naming_the_file(tmp_path: Path, depth: str) -> None:
    current, new = tmp_path / "g1", tmp_path / "g2"
    _tree(current)
    # Where the clone makes a directory, a file is in its way.
    (new / depth).parent.mkdir(parents=True)
    (new / depth).write_text("in the way")
    before = threading.active_count()
    with pytest.raises(HomeError) as caught:
        clone.clone_into(str(current), str(new), skeleton=True)
    assert str(caught.value).startswith(f"{new / depth}: cannot open it to clone it")
    assert threading.active_count() == before  # every thread ended
