"""Time zones and clocks: Shanghai's clock, now in UTC, and the clocks tests move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from envgrid_common.clock import (
    SHANGHAI,
    CoarseClock,
    ManualClock,
    ManualSeconds,
    shanghai_now,
    to_shanghai,
    utc_now,
)
from envgrid_common.sequence import FIRST_SEQ, seq_counter

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def test_shanghai_is_eight_hours_ahead_of_utc_without_daylight_saving() -> None:
    for month in (1, 7):
        local = datetime(2026, month, 1, 12, tzinfo=SHANGHAI)
        assert local.utcoffset() == timedelta(hours=8)
        assert local.isoformat() == f"2026-{month:02d}-01T12:00:00+08:00"


def test_to_shanghai_keeps_the_instant_and_takes_naive_values_as_utc() -> None:
    shown = to_shanghai(datetime(2026, 4, 30, 16, 0, tzinfo=UTC))
    assert shown.isoformat() == "2026-05-01T00:00:00+08:00"
    assert shown == datetime(2026, 4, 30, 16, 0, tzinfo=UTC)
    # A naive time on purpose: it is taken as UTC.
    assert to_shanghai(datetime(2026, 4, 30, 16, 0)) == shown  # noqa: DTZ001


def test_now_is_aware_in_utc_and_on_shanghai_clock() -> None:
    before = datetime.now(UTC)
    utc, local = utc_now(), shanghai_now()
    after = datetime.now(UTC)
    assert utc.utcoffset() == timedelta(0)
    assert local.utcoffset() == timedelta(hours=8)
    assert before <= utc <= local <= after


def test_the_coarse_clock_rereads_the_wall_clock_only_after_its_resolution() -> None:
    mono = ManualSeconds()
    wall = ManualClock(NOW)
    clock = CoarseClock(0.1, monotonic=mono, wall=wall)
    wall.advance(1)
    mono.now = 0.09
    assert clock.now() == NOW
    mono.now = 0.1
    assert clock.now() == NOW + timedelta(seconds=1)


def test_manual_clocks_move_only_when_told() -> None:
    wall = ManualClock(NOW)
    assert wall() == NOW
    assert wall.advance(90) == NOW + timedelta(seconds=90)
    assert wall() == NOW + timedelta(seconds=90)
    seconds = ManualSeconds(100.0)
    seconds.sleep(2.5)
    assert seconds() == 102.5


def test_a_node_keeps_its_next_seq_under_one_counter_name() -> None:
    assert seq_counter("farm-01") == "seq/farm-01"
    assert FIRST_SEQ == 1
