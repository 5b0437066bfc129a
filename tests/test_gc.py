"""gc's small pure parts (gc.py): the durations ``--unused-for`` takes.

Quick tests, no uv; gc itself is tested end to end in test_lifecycle.py.
"""

from __future__ import annotations

import pytest

from uvlaunch.errors import UvlaunchError
from uvlaunch.manage.gc import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("30m", 1800),
        ("12h", 43200),
        ("90d", 90 * 86400),
        ("2w", 14 * 86400),
        ("0s", 0),
        (" 7D ", 7 * 86400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "90", "1.5d", "-1d", "90 d", "90y", "ninety days"])
def test_what_is_not_a_duration_is_one_line_with_examples(text: str) -> None:
    with pytest.raises(UvlaunchError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert "not a duration" in message and "90d" in message and "\n" not in message
