"""The API's request parameters: aggregation intervals and instants with or without an offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from envgrid_cloud.api.buckets import iso_duration, parse_bucket
from envgrid_cloud.api.instants import parse_instant
from envgrid_cloud.api.models.readings import ReadingPoint
from envgrid_common.clock import to_shanghai


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("1m", timedelta(minutes=1)),
        ("15m", timedelta(minutes=15)),
        ("15min", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1H", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(days=7)),
        (" 5 m ", timedelta(minutes=5)),
        ("PT15M", timedelta(minutes=15)),
        ("pt15m", timedelta(minutes=15)),
        ("PT1H30M", timedelta(minutes=90)),
        ("PT90S", timedelta(seconds=90)),
        ("P1D", timedelta(days=1)),
        ("P1DT12H", timedelta(hours=36)),
        ("P2W", timedelta(days=14)),
        ("P366D", timedelta(days=366)),
    ],
)
def test_intervals_in_either_form_parse(text: str, expected: timedelta) -> None:
    assert parse_bucket(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "m", "15", "15x", "1.5h", "-1h", "0m", "PT0S", "P", "PT", "P1DT", "15 parsecs",
     "P1M", "P1Y", "P367D", "99999999999999999999D", "P99999999999D"],
)  # fmt: skip
def test_nonsense_intervals_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"interval|months|days|longer"):
        parse_bucket(text)


def test_months_are_refused_as_not_fixed() -> None:
    with pytest.raises(ValueError, match="months and years are not fixed"):
        parse_bucket("P1M")


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (timedelta(minutes=15), "PT15M"),
        (timedelta(days=1), "P1D"),
        (timedelta(hours=36), "P1DT12H"),
        (timedelta(seconds=3661), "PT1H1M1S"),
    ],
)
def test_intervals_are_echoed_as_iso_durations(interval: timedelta, expected: str) -> None:
    assert iso_duration(interval) == expected
    assert parse_bucket(expected) == interval


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-01T08:00:00+08:00",
        "2026-05-01T00:00:00Z",
        "2026-05-01T00:00:00+00:00",
        "2026-05-01T08:00:00",  # naive: Shanghai
        "2026-05-01 08:00:00",
        "2026-05-01T08:00",
        "2026-05-01T08:00:00 08:00",  # "+" unencoded in a query string arrives as a space
        "2026-05-01T08:00:00.000 08:00",
        "2026-05-01T08:00:00 0800",
        "2026-05-01T09:00:00+09:00",
    ],
)
def test_instants_with_and_without_offset(text: str) -> None:
    assert parse_instant(text) == datetime(2026, 5, 1, 0, 0, tzinfo=UTC)


def test_a_naive_instant_is_shanghai_time_not_utc() -> None:
    parsed = parse_instant("2026-05-01T00:00:00")
    assert parsed.utcoffset() == timedelta(hours=8)
    assert parsed == datetime(2026, 4, 30, 16, 0, tzinfo=UTC)
    assert parse_instant("2026-05-01") == datetime(2026, 4, 30, 16, 0, tzinfo=UTC)


def test_a_date_and_time_separated_by_a_space_is_not_taken_for_an_offset() -> None:
    assert parse_instant("2026-05-01 08:00") == datetime(2026, 5, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00", "1714521600", ""])
def test_bad_instants_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        parse_instant(text)


def test_times_are_shown_on_shanghai_clock() -> None:
    shown = to_shanghai(datetime(2026, 4, 30, 16, 0, tzinfo=UTC))
    assert shown.isoformat() == "2026-05-01T00:00:00+08:00"
    # Naive on purpose: a naive value is taken to be UTC, as stored.
    naive = datetime(2026, 4, 30, 16, 0)  # noqa: DTZ001
    assert to_shanghai(naive).isoformat() == "2026-05-01T00:00:00+08:00"


def test_response_models_serialise_times_with_the_shanghai_offset() -> None:
    point = ReadingPoint(
        ts=datetime(2026, 4, 30, 16, 0, 0, 500_000, tzinfo=UTC),
        node_id="n1",
        seq=1,
        value=1.5,
        flag=None,
        historical=False,
    )
    assert point.model_dump(mode="json")["ts"] == "2026-05-01T00:00:00.500000+08:00"
    assert point.ts.utcoffset() == timedelta(hours=8)
