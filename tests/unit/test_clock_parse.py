"""clock.parse_iso: the one date-time parser of the API."""

from datetime import UTC, datetime

import pytest

from chargewatch import clock


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-27T10:00:00Z", datetime(2026, 2, 27, 10, tzinfo=UTC)),
        ("2026-02-27t10:00:00z", datetime(2026, 2, 27, 10, tzinfo=UTC)),
        ("2026-02-27 10:00:00", datetime(2026, 2, 27, 10, tzinfo=UTC)),  # offset-less: UTC
        ("2026-02-27T12:00:00+02:00", datetime(2026, 2, 27, 10, tzinfo=UTC)),
        ("2026-02-27T10:00:00.123456789Z", datetime(2026, 2, 27, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-02-27T10:00:00.5Z", datetime(2026, 2, 27, 10, 0, 0, 500000, tzinfo=UTC)),
        (" 2026-02-27 ", datetime(2026, 2, 27, tzinfo=UTC)),
        (
            clock.to_iso(datetime(2026, 3, 1, 1, 2, 3, 4000, tzinfo=UTC)),
            datetime(2026, 3, 1, 1, 2, 3, 4000, tzinfo=UTC),
        ),
    ],
)
def test_instants_and_dates_parse_to_aware_utc(text, expected):
    parsed = clock.parse_iso(text)
    assert parsed == expected and parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("text", ["", "yesterday", "2026-02-27T10:00", "2026-02-30T10:00:00Z", "2026-W09", "20260227"])
def test_anything_else_is_a_value_error(text):
    with pytest.raises(ValueError):
        clock.parse_iso(text)
