"""uv/output.py without uv: which of uv's lines reach the user (the quick tier)."""

from __future__ import annotations

import pytest

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
