"""uv/output.py without uv: which of uv's lines reach the user (the quick tier)."""

from __future__ import annotations

import pytest

from uvlaunch.uv.escaping import Escaper, escape
from uvlaunch.uv.output import Quiet


def passed(*chunks: bytes) -> bytes:
    quiet = Quiet()
    return b"".join(quiet.feed(c) for c in chunks) + quiet.flush()


@pytest.mark.parametrize(
    "line",
    [
        b"Resolved in 0.86ms\n",  # a block with no dependencies: nothing counted
        b"Checked in 0.00ms\n",
        b"Audited in 1ms\n",
        b"Resolved 3 packages in 2ms\n",
        b"Checked 1 package in 0.01ms\n",
        b"Using CPython 3.11.7 interpreter at: /usr/bin/python3\n",
    ],
)
def test_sync_report_lines_are_left_out(line: bytes) -> None:
    assert passed(line) == b""
    assert passed(line[:5], line[5:]) == b""  # however uv's writes split it


@pytest.mark.parametrize(
    "line",
    [b"Installed 1 package in 3ms\n", b"Downloading pygments (1.2MiB)\n", b"Resolving...\n"],
)
def test_what_uv_run_prints_passes(line: bytes) -> None:
    assert passed(line) == line


OSC = b"\x1b]0;owned\x07\x1b]52;c;cm0gLXJmIH4=\x07"  # the window's title; the clipboard


def streamed(data: bytes) -> list[bytes]:
    """``data`` through an Escaper, split at every byte and at none."""
    whole = escape(data)
    escaper = Escaper()
    bytewise = b"".join(escaper.feed(data[i : i + 1]) for i in range(len(data)))
    return [whole, bytewise + escaper.flush()]


@pytest.mark.parametrize(
    "data",
    [
        b"\x1b[1m\x1b[31merror\x1b[39m\x1b[0m: Failed\r\n",  # uv's colours
        b"\x1b[2K\x1b[1A\r  \xe2\x94\x80 alpha \xe2\x96\x88\xe2\x96\x88 1.2 KiB\n",  # a bar
        "  \u00d7 naïve → 🐍\n".encode(),
    ],
)
def test_what_uv_draws_passes_unescaped(data: bytes) -> None:
    assert streamed(data) == [data, data]


def test_what_a_file_name_in_uvs_message_carries_is_escaped() -> None:
    data = b"error: Failed to read `/tmp/evil" + OSC + b"\x9b\xc2\x9b\xe2\x80\xae.py`\n"
    for out in streamed(data):
        assert b"\x1b]" not in out and b"\x07" not in out and b"\xc2\x9b" not in out
        assert b"\xe2\x80\xae" not in out
        assert out.startswith(b"error: Failed to read `/tmp/evil\\x1b]0;owned\\x07")
        assert out.endswith(b"\\u202e.py`\n")
