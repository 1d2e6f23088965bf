from __future__ import annotations

import pytest

from qualify.durations import format_duration, parse_duration
from qualify.errors import InputError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("45", 45),
        (" 10S ", 10),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "m5", "5m junk", "-5s", "nan", "inf", "1e999"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InputError, match="invalid duration"):
        parse_duration(text)


def test_format_round_trips_common_values() -> None:
    assert [format_duration(s) for s in (5, 90, 3600, 5400, 90000)] == [
        "5s",
        "1m30s",
        "1h",
        "1h30m",
        "1d1h",
    ]
