"""What ``list`` and ``show`` print (inventory.py): sizes for people.

Quick tests, no uv; the commands are tested end to end in test_lifecycle.py.
"""

from __future__ import annotations

import pytest

from uvlaunch.cli.output import human_size


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (12_900_000, "12.3 MiB"),
        (1024**3, "1.0 GiB"),
        (5 * 1024**4, "5120.0 GiB"),  # no larger unit
    ],
)
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown
