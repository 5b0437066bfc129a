"""Records and their index (records.py): who an environment belongs to, and how it is found.

Quick tests: a home and script files in tmp_path, no uv. The same cases through the
real command are in test_identity.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from uvlaunch.home import index, lookup, names, paths, pointer, records, samefile, stamp, store
from uvlaunch.home.env import Env
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
        records.new_name(root, ident),
        ident.path,
        ident.dev,
        ident.ino,
        1700000000.5,
        born=ident.born(),
        uid=ident.uid,
    )
    records.write_record(root, record)
    index.index_record(root, record)
    return record


def test_a_record_with_other_names_round_trips(root: str) -> None:
    record = records.Record(
        "job-0123456789",
        "/srv/job.py",
        1,
        2,
        3.0,
        names=("/srv/link.py", "/opt/job.py"),
        born=1700000000123456789,
        uid=1000,
    )
    records.write_record(root, record)
    back = records.read_record(root, record.name)
    assert back == record and (back.born, back.uid) == (record.born, record.uid)
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


def test_an_index_entry_that_is_not_a_plain_file_names_nothing(tmp_path: Path) -> None:
    os.mkdir(tmp_path / "directory")
    os.mkfifo(tmp_path / "fifo")  # would block an open that waits for a writer
    (tmp_path / "target").write_text("job-0123456789")
    os.symlink(tmp_path / "target", tmp_path / "link")
    for entry in ("directory", "fifo", "link"):
        assert index.read_index(str(tmp_path / entry)) is None


@pytest.mark.parametrize("how", ["directory", "empty", "elsewhere"])
def test_register_repairs_a_damaged_index(root: str, scripts: Path, how: str) -> None:
    ident = make(scripts / "job.py")
    record = lookup.register(root, ident)
    entry = paths.inode_key_path(root, record.dev, record.ino)
    os.unlink(entry)
    if how == "directory":
        os.mkdir(entry)
    elif how == "empty":
        Path(entry).write_bytes(b"")
    else:
        Path(entry).write_text("other-0123456789")
    assert lookup.register(root, identity.resolve(ident.path)) == record
    assert index.indexed(root, record)


def test_lookup_finds_a_script_as_recorded(root: str, scripts: Path) -> None:
    ident = make(scripts / "job.py")
    assert lookup.lookup(root, ident) == (None, "new")
    record = register(root, ident)
    assert lookup.lookup(root, ident) == (record, "same")


def test_lookup_follows_a_moved_script_by_its_inode(root: str, scripts: Path) -> None:
    record = register(root, make(scripts / "job.py"))
    os.rename(scripts / "job.py", scripts / "renamed.py")
    moved = identity.resolve(str(scripts / "renamed.py"))
    assert lookup.lookup(root, moved) == (record, "moved")


def reuse_inode(old: Path, new: Path, text: str = "print('new')\n") -> identity.ScriptIdentity:
    """Delete ``old``, create ``new``; skip unless it was given the freed inode."""
    ino = old.stat().st_ino
    old.unlink()
    new.write_text(text)
    if new.stat().st_ino != ino:
        pytest.skip("the filesystem did not give the new file the freed inode")
    return identity.resolve(str(new))


def test_a_new_file_given_a_recorded_inode_is_not_the_recorded_script(
    root: str, scripts: Path
) -> None:
    ident = make(scripts / "job.py")
    if ident.born() is None:
        pytest.skip("this filesystem keeps no birth time")
    register(root, ident)
    new = reuse_inode(scripts / "job.py", scripts / "new.py")
    assert lookup.lookup(root, new) == (None, "new")
    assert lookup.recover(root, new) is None


def test_a_file_of_another_owner_is_never_the_recorded_script(root: str, scripts: Path) -> None:
    ident = make(scripts / "job.py")
    record = register(root, ident)
    os.rename(scripts / "job.py", scripts / "renamed.py")
    moved = identity.resolve(str(scripts / "renamed.py"))
    moved.uid = ident.uid + 1  # as if another user had made it
    assert lookup.lookup(root, moved) == (None, "new")
    moved.uid = ident.uid
    assert lookup.lookup(root, moved) == (record, "moved")


BLOCK_TEXT = "# /// script\n# dependencies = []\n# ///\nprint('hi')\n"


def test_without_birth_times_the_block_decides(root: str, scripts: Path) -> None:
    # A record from before birth times were kept (or a filesystem without them): a file
    # found by its inode is the script moved only with the block its environment has.
    ident = make(scripts / "job.py", BLOCK_TEXT)
    record = register(root, ident)
    record = records.Record(record.name, record.script, record.dev, record.ino, 1.0)
    records.write_record(root, record)
    os.rename(scripts / "job.py", scripts / "renamed.py")
    moved = identity.resolve(str(scripts / "renamed.py"))
    assert lookup.lookup(root, moved) == (None, "new")  # no environment: cannot tell
    env = paths.generation_dir(root, record.name, "g1")
    os.makedirs(env)
    pointer.point(root, record.name, pointer.CURRENT, "g1")
    fields = stamp.Stamp(script=record.script, block="# dependencies = []\n")
    Path(paths.stamp_path(env)).write_bytes(fields.encode())
    assert lookup.lookup(root, moved) == (None, "new")  # another block
    Path(paths.stamp_path(env)).write_bytes(fields.replace(block=moved.block()).encode())
    moved = identity.resolve(str(scripts / "renamed.py"))
    assert lookup.lookup(root, moved) == (record, "moved")


def test_birth_times_tell_files_apart(scripts: Path) -> None:
    path = scripts / "a.py"
    path.write_text("x")
    born = samefile.birth_ns(str(path))
    if born is None:
        pytest.skip("this filesystem keeps no birth time")
    st = path.stat()
    os.rename(path, scripts / "b.py")
    assert samefile.birth_ns(str(scripts / "b.py")) == born
    assert samefile.same_file(str(scripts / "b.py"), st.st_dev, st.st_ino, born)
    assert not samefile.same_file(str(scripts / "b.py"), st.st_dev, st.st_ino, born + 1)
    assert samefile.birth_ns(str(scripts / "missing.py")) is None


def test_lookup_follows_an_editors_save_by_its_path(root: str, scripts: Path) -> None:
    record = register(root, make(scripts / "job.py"))
    saved = scripts / ".job.py.swp"
    saved.write_text("print('edited')\n")
    os.replace(saved, scripts / "job.py")  # same path, another inode
    again = identity.resolve(str(scripts / "job.py"))
    assert again.ino != record.ino
    assert lookup.lookup(root, again) == (record, "saved")


def test_lookup_knows_a_hard_link_of_a_recorded_script(root: str, scripts: Path) -> None:
    record = register(root, make(scripts / "job.py"))
    os.link(scripts / "job.py", scripts / "link.py")
    linked = identity.resolve(str(scripts / "link.py"))
    assert lookup.lookup(root, linked) == (record, "hardlink")


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


def test_a_first_launch_leaves_the_birth_time_for_later(root: str, scripts: Path) -> None:
    ident = make(scripts / "job.py")
    record = lookup.register(root, ident)  # no ctypes on a first launch's way
    assert record.born is None and record.uid == ident.uid
    born = samefile.birth_ns(ident.path)
    if born is None:
        pytest.skip("this filesystem keeps no birth time")
    lookup.note_birth(Env(root, record.name))  # the background compiler's, or install's
    back = records.read_record(root, record.name)
    assert back is not None and back.born == born
    os.unlink(ident.path)  # gone: nothing to note, and nothing noted wrongly
    rec2 = lookup.register(root, make(scripts / "other.py"))
    os.unlink(scripts / "other.py")
    lookup.note_birth(Env(root, rec2.name))
    back2 = records.read_record(root, rec2.name)
    assert back2 is not None and back2.born is None
