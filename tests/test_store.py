"""The store's small pieces that replace heavier imports: digests, records, names.

Each is checked against the standard library function it stands in for.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uvlaunch.home import paths, records, store

ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()))


@given(st.binary())
def test_sha256_hex_is_hashlibs(data: bytes) -> None:
    assert store.sha256_hex(data) == hashlib.sha256(data).hexdigest()


def _is_a_path(text: str) -> bool:
    """Whether ``text`` can be a path the OS gave (records store a path's bytes)."""
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return False  # a lone surrogate outside the escapes: no file is named so
    return True


@given(
    name=st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True),
    script=ANY_TEXT.filter(_is_a_path),
    dev=st.integers(min_value=0, max_value=2**64),
    ino=st.integers(min_value=0, max_value=2**64),
    created=st.floats(allow_nan=False, allow_infinity=False),
)
def test_encode_record_is_json_dumps(
    name: str, script: str, dev: int, ino: int, created: float
) -> None:
    record = records.Record(name, script, dev, ino, created)
    fields = {
        "version": 1,
        "name": name,
        "script": script,
        "dev": dev,
        "ino": ino,
        "created": created,
    }
    encoded = records.encode_record(record)
    assert encoded == json.dumps(fields).encode()
    back = json.loads(encoded)
    assert back["script"] == script
    assert back["created"] == created


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("UVLAUNCH_HOME", str(tmp_path / "home"))
    return store.open_home()


@pytest.mark.parametrize("script", ["/srv/tools/report.py", "/tmp/caf\xe9 \u2603/x.py"])
def test_record_round_trip(root: str, script: str) -> None:
    record = records.Record("report-0123456789", script, 2049, 131, 1700000000.25)
    records.write_record(root, record)
    assert records.read_record(root, record.name) == record
    assert records.read_record(root, "missing-0123456789") is None


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe garbage",
        b'{"script": "relative/x.py", "dev": 1, "ino": 2}',
        b'{"script": "/x.py", "dev": true, "ino": 2}',
        b'{"script": "/x.py", "dev": 1}',
        b"[]",
    ],
)
def test_damaged_record_reads_as_none(root: str, content: bytes) -> None:
    Path(paths.record_path(root, "bad-0123456789")).write_bytes(content)
    assert records.read_record(root, "bad-0123456789") is None


def test_write_atomic_leaves_no_temporary_file(root: str, tmp_path: Path) -> None:
    target = tmp_path / "home" / "index" / "entry"
    store.write_atomic(root, str(target), b"one")
    store.write_atomic(root, str(target), b"two")
    assert target.read_bytes() == b"two"
    assert list(Path(paths.tmp_dir(root)).iterdir()) == []


def test_random_suffix() -> None:
    suffixes = {store.random_suffix(8) for _ in range(50)}
    assert len(suffixes) == 50
    assert all(len(s) == 8 and int(s, 16) >= 0 for s in suffixes)
    assert len(store.random_suffix(32)) == 32
