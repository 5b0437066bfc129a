"""Records and their index (records.py): who an environment belongs to, and how it is found.

Quick tests: a home and script files in tmp_path, no uv. The same cases through the
real command are in test_identity.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from uvlaunch.home import index, names, paths, records, store
from uvlaunch.scripts import identity


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("UVLAUNCH_HOME", str(tmp_path / "home"))
    return store.open_home()


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    d = tmp_path / "scripts"
    d.mkdir()
    return d


def make(path: Path, text: str = "print('hi')\n") -> identity.ScriptIdentity:
    path.write_text(text)
    return identity.resolve(str(path))


def register(root: str, ident: identity.ScriptIdentity) -> records.Record:
    """What a first launch records for ``ident``."""
    record = records.Record(
        records.new_name(root, ident), ident.path, ident.dev, ident.ino, 1700000000.5
    )
    records.write_record(root, record)
    index.index_record(root, record)
    return record


def test_a_record_with_other_names_round_trips(root: str) -> None:
    record = records.Record(
        "job-0123456789", "/srv/job.py", 1, 2, 3.0, names=("/srv/link.py", "/opt/job.py")
    )
    records.write_record(root, record)
    assert records.read_record(root, record.name) == record
    assert records.record_names(root) == ["job-0123456789"]


@pytest.mark.parametrize("names", [["relative.py"], ["/srv/../job.py"], ["/srv/job.py/"]], ids=str)
def test_a_record_whose_other_names_are_not_clean_paths_is_damaged(
    root: str, names: list[str]
) -> None:
    data = {"script": "/srv/job.py", "dev": 1, "ino": 2, "names": names}
    Path(paths.record_path(root, "job-0123456789")).write_text(json.dumps(data))
    assert records.read_record(root, "job-0123456789") is None


@pytest.mark.parametrize(
    "content", [b"job-0123456789\n", b"../../etc\n", b"caf\xc3\xa9-0123456789", b"", b"\xff"]
)
def test_an_index_entry_names_a_safe_environment_or_nothing(tmp_path: Path, content: bytes) -> None:
    entry = tmp_path / "entry"
    entry.write_bytes(content)
    expected = "job-0123456789" if content == b"job-0123456789\n" else None
    assert index.read_index(str(entry)) == expected
    assert index.read_index(str(tmp_path / "missing")) is None


def test_lookup_finds_a_script_as_recorded(root: str, scripts: Path) -> None:
    ident = make(scripts / "job.py")
    assert records.lookup(root, ident) == (None, "new")
    record = register(root, ident)
    assert records.lookup(root, ident) == (record, "same")


def test_lookup_follows_a_moved_script_by_its_inode(root: str, scripts: Path) -> None:
    record = register(root, make(scripts / "job.py"))
    os.rename(scripts / "job.py", scripts / "renamed.py")
    moved = identity.resolve(str(scripts / "renamed.py"))
    assert records.lookup(root, moved) == (record, "moved")


def test_lookup_follows_an_editors_save_by_its_path(root: str, scripts: Path) -> None:
    record = register(root, make(scripts / "job.py"))
    saved = scripts / ".job.py.swp"
    saved.write_text("print('edited')\n")
    os.replace(saved, scripts / "job.py")  # same path, another inode
    again = identity.resolve(str(scripts / "job.py"))
    assert again.ino != record.ino
    assert records.lookup(root, again) == (record, "saved")


def test_lookup_knows_a_hard_link_of_a_recorded_script(root: str, scripts: Path) -> None:
    record = register(root, make(scripts / "job.py"))
    os.link(scripts / "job.py", scripts / "link.py")
    linked = identity.resolve(str(scripts / "link.py"))
    assert records.lookup(root, linked) == (record, "hardlink")


def test_unindex_leaves_entries_that_point_elsewhere(root: str, scripts: Path) -> None:
    record = register(root, make(scripts / "job.py"))
    inode_entry = paths.inode_key_path(root, record.dev, record.ino)
    path_entry = index.path_key_path(root, record.script)
    store.write_atomic(root, path_entry, b"other-0123456789")  # taken over meanwhile
    index.unindex_record(root, record)
    assert not os.path.exists(inode_entry)
    assert index.read_index(path_entry) == "other-0123456789"


def test_names_are_the_stem_and_a_hash_of_the_identity(root: str, scripts: Path) -> None:
    ident = make(scripts / "My Report!.py")
    name = records.preferred_name(ident)
    stem, digest = name.rsplit("-", 1)
    assert stem == "My_Report" and len(digest) == 10 and int(digest, 16) >= 0
    assert records.new_name(root, ident) == name  # the same every time, before it exists
    assert records.new_name(root, ident) == name
    os.makedirs(paths.env_dir(root, name))  # taken (an inode reused at the same path)
    other = records.new_name(root, ident)
    assert other.startswith(name[:-4]) and len(other) == len(name) + 4  # 8 random digits
    assert names.is_safe_name(other)
