"""SuperOffice time parsing: offset-less is UTC, offsets converted, year 1 is "never"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_sync.superoffice.times import (
    after_time_bound,
    consent_changed_at,
    odata_time,
    parse_time,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-22T10:00:00", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
        ("2026-11-22T10:00:00Z", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
        ("2026-11-22T11:00:00+01:00", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
        ("2026-11-22T05:00:00-05:00", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
        ("2026-11-22T10:00:00.1234567", datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-22T10:00:00.1234567+02:00", datetime(2026, 11, 22, 8, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=UTC)),
        ("0001-01-01T00:00:00", None),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_parse(raw: str | None, expected: datetime | None) -> None:
    assert parse_time(raw) == expected


def test_parsed_times_are_aware_utc() -> None:
    parsed = parse_time("2026-11-22T11:00:00+01:00")
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


def test_naive_datetime_is_utc_and_aware_is_converted() -> None:
    assert parse_time(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)
    cet = timezone(timedelta(hours=1))
    assert parse_time(datetime(2026, 1, 1, 12, tzinfo=cet)) == datetime(2026, 1, 1, 11, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["yesterday", "2026-13-01T00:00:00", "12:00"])
def test_garbage_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time(raw)


def test_non_string_is_refused() -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_time(12345)


def test_change_time_is_the_later_of_registered_and_updated() -> None:
    assert consent_changed_at("2026-01-01T00:00:00", "2026-02-01T00:00:00") == datetime(
        2026, 2, 1, tzinfo=UTC
    )
    assert consent_changed_at("2026-03-01T00:00:00", "2026-02-01T00:00:00") == datetime(
        2026, 3, 1, tzinfo=UTC
    )
    # Never updated: the registration time
    assert consent_changed_at("2026-01-01T00:00:00", "0001-01-01T00:00:00") == datetime(
        2026, 1, 1, tzinfo=UTC
    )
    assert consent_changed_at(None, "0001-01-01T00:00:00") is None


def test_odata_time_is_utc_whole_seconds_without_offset() -> None:
    cet = timezone(timedelta(hours=1))
    assert odata_time(datetime(2026, 11, 22, 11, 0, 5, 999999, tzinfo=cet)) == "2026-11-22T10:00:05"
    assert odata_time(datetime(2026, 11, 22, 10, 0, 5)) == "2026-11-22T10:00:05"


def test_after_time_bound_overlaps_the_second() -> None:
    since = datetime(2026, 11, 22, 10, 0, 5, 500000, tzinfo=UTC)
    assert after_time_bound(since) == datetime(2026, 11, 22, 10, 0, 4, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1900, 1, 1), timezones=st.timezones()))
def test_round_trip_through_offsetless_utc(moment: datetime) -> None:
    # A time written the way SuperOffice writes it (UTC, no offset) reads back as the same instant
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert parse_time(text) == moment.astimezone(UTC)
