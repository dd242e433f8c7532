"""``envgrid hj212 replay``'s file handling: time prefixes, retiming, what each line is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from envgrid_common.hj212 import CrcMode, Edition, Reason, parse_frame, parse_time
from envgrid_gateway.hj212_replay import days_to_yesterday, prefix_time, read_replay, shift_frame
from tests.unit.hj212_data import water_frame


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"2024-03-01 12:00:00 RX ", datetime(2024, 3, 1, 4, 0, tzinfo=UTC)),
        (b"[2024-03-01 12:00:00.250] ", datetime(2024, 3, 1, 4, 0, 0, 250000, tzinfo=UTC)),
        (b"2024/03/01 12:00:01: ", datetime(2024, 3, 1, 4, 0, 1, tzinfo=UTC)),
        (b"2024-03-01T12:00:00+00:00 ", datetime(2024, 3, 1, 12, 0, tzinfo=UTC)),
        (b"20240301120002 ", datetime(2024, 3, 1, 4, 0, 2, tzinfo=UTC)),
        (b"RX ", None),
        (b"2024-13-01 12:00:00 ", None),
    ],
)
def test_a_prefix_is_a_time_in_china_unless_it_says_otherwise(
    prefix: bytes, expected: datetime | None
) -> None:
    assert prefix_time(prefix) == expected


@pytest.mark.parametrize("crc", list(CrcMode))
def test_retiming_moves_times_and_keeps_the_crc_mode(crc: CrcMode) -> None:
    raw = water_frame(edition=Edition.HJ212_2017, crc=crc)
    frame = parse_frame(raw)
    moved = parse_frame(shift_frame(frame, raw, 10))
    assert moved.crc_mode is crc
    assert parse_time(moved.data_time or "") == parse_time(frame.data_time or "") + timedelta(
        days=10
    )
    assert parse_time(moved.qn or "") == parse_time(frame.qn or "") + timedelta(days=10)
    assert moved.factors == frame.factors
    assert len(moved.segment) == len(frame.segment)


def test_refused_lines_are_sent_as_they_are_and_counted_by_reason() -> None:
    good = water_frame(edition=Edition.HJ212_2017, ack=True).rstrip(b"\r\n")
    bad_crc = good[:-4] + b"0000"
    lines = list(
        read_replay(
            [(1, b"2024-03-01 12:00:00 " + good), (2, bad_crc), (3, b"QN=broken line")],
            retime_days=3,
        )
    )
    assert [line.number for line in lines] == [1, 2, 3]
    first, second, third = lines
    assert first.frame is not None
    assert first.at == datetime(2024, 3, 1, 4, 0, tzinfo=UTC)  # the prefix is not retimed
    assert first.data.startswith(b"##")
    assert first.data != good  # its DataTime and QN moved
    assert first.wants_answer
    assert first.qn == first.frame.qn
    assert first.mn == "010000A8900016F000169DC0"
    assert second.data == bad_crc  # a refused frame is not touched
    assert second.error is not None
    assert second.error.reason is Reason.CRC_MISMATCH
    assert third.error is not None
    assert third.error.reason is Reason.NO_HEADER
    assert third.mn is None


def test_yesterday_is_counted_from_the_first_time_in_the_log() -> None:
    lines = list(read_replay([(1, water_frame().rstrip(b"\r\n"))]))  # DataTime 2024-03-01 12:00
    today = datetime(2024, 3, 11, 3, 0, tzinfo=UTC)  # 11:00 in China
    assert days_to_yesterday(lines, today) == 9
    assert days_to_yesterday([], today) == 0
