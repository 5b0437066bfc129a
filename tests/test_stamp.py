"""The sync stamp (stamp.py): what reads back, what reads as missing, and the file signature.

Quick tests: files in tmp_path only, no uv.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uvlaunch.home import stamp

# Text a stamp can hold: no NUL, and no lone surrogates but the escapes of bytes that
# are not UTF-8 (what a path read with surrogateescape holds).
UTF8_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\0"))
ESCAPED = st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape"))
TEXT = UTF8_TEXT | ESCAPED.map(lambda t: t.replace("\0", "-"))
STAMPS = st.builds(
    stamp.Stamp,
    **{k: TEXT for k in stamp.Stamp.FIELDS if k != "block"},
    block=st.none() | TEXT,
)

SAMPLE = stamp.Stamp(
    script=os.fsdecode(b"/srv/caf\xe9/x.py"),  # not UTF-8: stored as its bytes
    dev="2049",
    ino="131",
    synced="1700000000.25",
    uv="/usr/bin/uv",
    block="dependencies = []\n",
)


@given(STAMPS)
def test_what_is_encoded_reads_back(fields: stamp.Stamp) -> None:
    raw = fields.encode()
    assert raw.startswith(stamp.MAGIC.encode() + b"\0")
    assert raw.endswith(b"\0" + stamp.END.encode() + b"\0")
    assert _read_bytes(raw) == fields


def test_a_path_that_is_not_utf8_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "stamp"
    path.write_bytes(SAMPLE.encode())
    assert stamp.read(str(path)) == SAMPLE
    assert os.fsencode(SAMPLE.script) in path.read_bytes()


def test_no_block_is_stored_as_noblock_and_read_back_as_none() -> None:
    raw = SAMPLE.replace(block=None).encode()
    assert b"\0noblock\x001\0" in raw and b"\0block\0" not in raw
    back = _read_bytes(raw)
    assert back is not None and back.block is None


def test_missing_signatures_read_as_no_file() -> None:
    back = _read_bytes(stamp.MAGIC.encode() + b"\0dev\x001\0end\0")
    assert back is not None and (back.lock, back.uvsig, back.pysig) == ("-", "-", "-")
    assert back.dev == "1" and back.script == "" and back.block is None


def test_every_truncated_stamp_reads_as_missing() -> None:
    raw = SAMPLE.encode()
    for cut in range(len(raw)):
        assert _read_bytes(raw[:cut]) is None, raw[:cut]
        # and launcher.c's check (head and tail, as warm.stamp_complete makes it) agrees
        assert not _complete(raw[:cut]), raw[:cut]
    assert _read_bytes(raw) == SAMPLE and _complete(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"uvlaunch-stamp-0\0end\0",  # another magic
        stamp.MAGIC.encode() + b"\0key\0end\0",  # a key without its value
        stamp.Stamp(uv="b").encode() + b"more",  # something after the end
        stamp.Stamp(uv="b").encode().replace(b"\0end\0", b"\0END\0"),
    ],
)
def test_a_damaged_stamp_reads_as_missing(raw: bytes) -> None:
    assert _read_bytes(raw) is None


def test_a_missing_stamp_reads_as_missing(tmp_path: Path) -> None:
    assert stamp.read(str(tmp_path / "nothing")) is None
    assert stamp.read(str(tmp_path)) is None  # a directory


@pytest.mark.parametrize("fields", [{"script": "a\0b"}, {"block": "b\0c"}])
def test_a_field_with_nul_is_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="NUL"):
        stamp.Stamp(**fields).encode()


def test_file_signature_changes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "script.py.lock"
    assert stamp.file_signature(str(path)) == "-"
    path.write_text("one")
    first = stamp.file_signature(str(path))
    st_ = path.stat()
    assert first == f"{st_.st_dev}:{st_.st_ino}:{st_.st_size}:{st_.st_mtime_ns}"
    assert stamp.file_signature(str(path)) == first  # reading changes nothing
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1))
    assert stamp.file_signature(str(path)) != first
    replaced = tmp_path / "new"
    replaced.write_text("one")
    os.utime(replaced, ns=(st_.st_atime_ns, st_.st_mtime_ns))
    os.replace(replaced, path)  # another inode: an editor's save
    assert stamp.file_signature(str(path)) not in (first, "-")


def _read_bytes(raw: bytes) -> stamp.Stamp | None:
    """stamp.read of a file holding ``raw`` (not tmp_path: hypothesis calls this often)."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(raw)
        f.flush()
        return stamp.read(f.name)


def _complete(raw: bytes) -> bool:
    with tempfile.NamedTemporaryFile() as f:
        f.write(raw)
        f.flush()
        return stamp.is_complete(f.name)
