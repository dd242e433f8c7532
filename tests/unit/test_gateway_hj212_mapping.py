"""HJ 212 uploads into readings: values by metric, flags, window start as ts, seq, historical."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from envgrid_common.hj212 import Edition, Frame, format_time, parse_frame, upload_frames
from envgrid_gateway.adapters.hj212.mapping import map_upload, reading_seq

NOW = datetime(2026, 5, 1, 0, 30, tzinfo=UTC)  # 08:30 China time


def frame(cn: str, data_time: str, factors: dict[str, dict[str, str]], st: str = "32") -> Frame:
    raw = upload_frames(
        st=st,
        cn=cn,
        pw="123456",
        mn="010000A8900016F000169DC0",
        data_time=data_time,
        factors=factors,
        edition=Edition.HJ212_2017,
        qn="20260501083000000",
    )[0]
    return parse_frame(raw)


def test_real_time_values_take_rtd_their_flags_and_the_instant_in_utc() -> None:
    f = frame(
        "2011", "20260501082500", {"w01018": {"Rtd": "35.2", "Flag": "D"}, "060": {"Rtd": "1.4"}}
    )
    mapped = map_upload(f, units={}, now=NOW, historical_after_s=1800)
    reading = mapped.reading
    assert reading is not None
    assert reading.ts == datetime(2026, 5, 1, 0, 25, tzinfo=UTC)
    assert reading.values == {"cod": 35.2, "nh3n": 1.4}
    assert reading.flags == {"cod": "D"}
    assert not reading.historical


def test_hour_data_takes_avg_and_its_window_start_and_converts_units() -> None:
    f = frame(
        "2061",
        "20260501070000",
        {"a21026": {"Avg": "12.5", "Max": "20", "Flag": "N"}, "a34013": {"Avg": "3.1"}},
        st="31",
    )
    reading = map_upload(f, units={}, now=NOW, historical_after_s=1800).reading
    assert reading is not None
    assert reading.ts == datetime(2026, 4, 30, 23, 0, tzinfo=UTC)  # 07:00 China time
    assert reading.values["so2"] == pytest.approx(12500.0)  # mg/m³ at the stack → µg/m³
    assert reading.values["dust"] == 3.1
    assert not reading.historical  # the hour ended 30 minutes ago


def test_a_per_device_unit_override_applies() -> None:
    f = frame("2011", "20260501082500", {"a34004": {"Rtd": "0.035"}}, st="22")
    units = {"a34004": "mg/m³"}
    reading = map_upload(f, units=units, now=NOW, historical_after_s=1800).reading
    assert reading is not None
    assert reading.values["pm25"] == pytest.approx(35.0)


def test_a_late_backlog_is_historical() -> None:
    f = frame("2051", "20260501060000", {"w01018": {"Avg": "30"}})
    reading = map_upload(f, units={}, now=NOW, historical_after_s=1800).reading
    assert reading is not None
    assert reading.historical


def test_codes_without_a_metric_are_left_out_and_listed() -> None:
    f = frame("2011", "20260501082500", {"w01018": {"Rtd": "30"}, "a01011": {"Rtd": "8.2"}})
    mapped = map_upload(f, units={}, now=NOW, historical_after_s=1800)
    assert mapped.reading is not None
    assert set(mapped.reading.values) == {"cod"}
    assert mapped.unmapped == ("a01011",)
    only_unknown = frame("2011", "20260501082500", {"a01011": {"Rtd": "8.2"}})
    refused = map_upload(only_unknown, units={}, now=NOW, historical_after_s=1800)
    assert refused.reading is None
    assert refused.refused is not None
    assert refused.refused.startswith("no_metric")


def test_an_unset_clock_is_refused_with_the_reason() -> None:
    f = frame("2051", "20000202000000000", {"w01018": {"Avg": "30"}})
    mapped = map_upload(f, units={}, now=NOW, historical_after_s=1800)
    assert mapped.reading is None
    assert mapped.refused is not None
    assert "older than" in mapped.refused


def test_seq_is_the_same_for_the_same_upload_and_differs_by_kind_and_time() -> None:
    ts = datetime(2026, 5, 1, tzinfo=UTC)
    assert reading_seq(ts, "2011") == reading_seq(ts, "2011")
    kinds = {reading_seq(ts, cn) for cn in ("2011", "2051", "2061", "2031")}
    assert len(kinds) == 4
    later = ts + timedelta(milliseconds=1)
    assert reading_seq(later, "2011") > max(kinds)
    assert reading_seq(datetime(1960, 1, 1, tzinfo=UTC), "2011") == 0


def test_a_round_trip_of_format_time_gives_the_same_seq() -> None:
    ts = datetime(2026, 5, 1, 0, 2, 3, tzinfo=UTC)
    f = frame("2011", format_time(ts), {"w01018": {"Rtd": "1"}})
    reading = map_upload(f, units={}, now=NOW, historical_after_s=1800).reading
    assert reading is not None
    assert reading.seq == reading_seq(ts, "2011")
