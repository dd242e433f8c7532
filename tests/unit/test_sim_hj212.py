"""The virtual 数采仪's parts: schedule, values, frames in each edition and CRC mode, backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from envgrid_common.hj212 import (
    CrcMode,
    Edition,
    SplitReassembler,
    parse_frame,
    parse_time,
)
from envgrid_sim.hj212.backlog import Backlog, Upload
from envgrid_sim.hj212.compose import HOURLY, MINUTE, REALTIME, Identity, QnStamps, liveness, upload
from envgrid_sim.hj212.factors import SYSTEM_CODES, SourceKind, factors_of
from envgrid_sim.hj212.readings import StationValues
from envgrid_sim.hj212.schedule import Cadence, Schedule, StationClock

MN = "010000A8900016F000169DC0"
T0 = datetime(2026, 3, 1, 4, 3, 10, tzinfo=UTC)  # 12:03:10 in China


def _values(kind: SourceKind = SourceKind.EFFLUENT) -> StationValues:
    return StationValues(MN, factors_of(kind), seed=1)


def test_schedule_aligns_windows_and_stamps_their_start() -> None:
    schedule = Schedule(Cadence(), T0)
    assert schedule.next_at() == datetime(2026, 3, 1, 4, 3, 30, tzinfo=UTC)
    due = schedule.take(T0 + timedelta(minutes=50))  # up to 04:53:10 UTC
    by_cn = {cn: [d for d in due if d.cn == cn] for cn in (REALTIME, MINUTE, HOURLY)}
    assert len(by_cn[REALTIME]) == 100  # every 30 s, none skipped
    assert [d.data_time.minute for d in by_cn[MINUTE]] == [0, 10, 20, 30, 40]
    assert by_cn[MINUTE][0].window == timedelta(minutes=10)
    # The hourly window 04:00-05:00 is not over yet.
    assert by_cn[HOURLY] == []
    ends = [d.data_time + (d.window or timedelta(0)) for d in due]
    assert ends == sorted(ends)
    later = schedule.take(T0 + timedelta(hours=1))
    hourly = [(d.data_time, d.window) for d in later if d.cn == HOURLY]
    # DataTime of hourly data is the start of its window.
    assert hourly == [(datetime(2026, 3, 1, 4, 0, tzinfo=UTC), timedelta(hours=1))]
    assert [d.data_time.minute for d in later if d.cn == MINUTE] == [50]


def test_station_clock_runs_at_its_speed() -> None:
    ticks = [100.0]
    clock = StationClock(T0, speed=60, monotonic=lambda: ticks[0])
    ticks[0] = 102.0
    assert clock.now() == T0 + timedelta(minutes=2)
    assert clock.real_seconds(T0 + timedelta(minutes=3)) == pytest.approx(1.0)
    assert clock.real_seconds(T0) == 0.0
    with pytest.raises(ValueError, match="speed"):
        StationClock(T0, speed=0)


def test_a_capped_clock_races_through_its_backfill_then_keeps_real_time() -> None:
    ticks = [0.0]
    present = T0 + timedelta(minutes=30)
    clock = StationClock(T0, speed=60, monotonic=lambda: ticks[0], cap=lambda: present)
    ticks[0] = 10.0  # 10 minutes of backfill sent in 10 s
    assert clock.now() == T0 + timedelta(minutes=10)
    assert clock.real_seconds(T0 + timedelta(minutes=11)) == pytest.approx(1.0)
    ticks[0] = 60.0  # caught up: never ahead of the present
    assert clock.now() == present
    assert clock.real_seconds(present + timedelta(seconds=30)) == pytest.approx(30.0)


def test_realtime_values_are_deterministic_and_flagged() -> None:
    one, two = _values().realtime(T0, modern=True), _values().realtime(T0, modern=True)
    assert one == two
    assert set(one) == {"w00000", "w01001", "w01018", "w21003"}
    assert all(fields["Flag"] == "N" for fields in one.values())
    assert 6.0 < float(one["w01001"]["Rtd"]) < 9.0  # pH of a treated outfall
    old = _values().realtime(T0, modern=False)
    assert set(old) == {"B01", "001", "011", "060"}  # 2005 codes
    assert old["011"] == one["w01018"]


def test_window_values_are_min_avg_max_of_the_samples() -> None:
    window = _values(SourceKind.FLUE_GAS).window(T0, timedelta(minutes=10), modern=True)
    for fields in window.values():
        low, mean, high = (float(fields[k]) for k in ("Min", "Avg", "Max"))
        assert low <= mean <= high
    flow = window["a00000"]
    # Flue-gas flow in m³/s; its Cou is the volume over the 600 s window.
    assert float(flow["Cou"]) == pytest.approx(float(flow["Avg"]) * 600, rel=0.01)
    assert "Cou" not in window["a21026"]


@pytest.mark.parametrize("edition", list(Edition))
@pytest.mark.parametrize("crc", list(CrcMode))
def test_uploads_parse_back_in_every_edition_and_crc_mode(edition: Edition, crc: CrcMode) -> None:
    identity = Identity(st="32", mn=MN, pw="123456", edition=edition, crc=crc, ack=True)
    modern = edition is not Edition.HJT212_2005
    factors = _values().realtime(T0, modern=modern)
    item = upload(identity, REALTIME, T0, factors, "20260301120310000")
    assert item.wants_answer
    assert item.key == "20260301120310000"
    (packet,) = item.packets
    frame = parse_frame(packet, crc=crc)
    assert (frame.edition, frame.crc_mode, frame.cn, frame.mn) == (edition, crc, "2011", MN)
    assert frame.ack_requested
    assert frame.factors == factors
    assert parse_time(frame.data_time or "") == T0.replace(microsecond=0)
    # 2005 units put the QN in the header only when they want an answer (as here).
    assert frame.qn == "20260301120310000"


def test_a_2005_unit_without_answers_sends_no_qn_or_flag() -> None:
    identity = Identity(
        st="32", mn="LD130133000015", pw="123456", edition=Edition.HJT212_2005, ack=False
    )
    factors = _values().window(T0, timedelta(minutes=10), modern=False)
    item = upload(identity, MINUTE, T0, factors, "20260301120310000")
    frame = parse_frame(item.packets[0])
    assert (frame.qn, frame.flag, frame.edition) == (None, None, Edition.HJT212_2005)
    assert not item.wants_answer


def test_long_uploads_are_split_and_join_again() -> None:
    identity = Identity(st="31", mn=MN, pw="123456", max_segment=200)
    factors = _values(SourceKind.FLUE_GAS).window(T0, timedelta(hours=1), modern=True)
    item = upload(identity, HOURLY, T0, factors, "20260301130000000")
    assert len(item.packets) > 2
    joiner = SplitReassembler()
    done = []
    for number, packet in enumerate(item.packets, start=1):
        frame = parse_frame(packet)
        assert (frame.pno, frame.pnum, frame.qn) == (number, len(item.packets), item.key)
        done += joiner.add(frame, 0.0)[0]
    (whole,) = done
    assert whole.factors == factors


def test_heartbeat_is_9015_in_2025_and_8013_before() -> None:
    for edition, cn in ((Edition.HJ212_2025, "9015"), (Edition.HJ212_2017, "8013")):
        frame = parse_frame(liveness(Identity(st="32", mn=MN, pw="123456", edition=edition), T0))
        assert (frame.cn, frame.edition) == (cn, edition)


def test_qns_never_repeat() -> None:
    stamps = QnStamps()
    taken = [stamps.take(T0) for _ in range(3)]
    assert taken == ["20260301120310000", "20260301120310001", "20260301120310002"]


def test_system_codes_follow_table_5() -> None:
    assert SYSTEM_CODES == {SourceKind.EFFLUENT: "32", SourceKind.FLUE_GAS: "31"}


def _upload(key: str, wants: bool = True) -> Upload:
    return Upload(key=key, cn=REALTIME, packets=(b"x",), wants_answer=wants)


def test_backlog_resends_until_answered_then_pauses_and_goes_round_again() -> None:
    backlog = Backlog(answer_timeout_s=10, retries=3, retry_later_s=60)
    backlog.add(_upload("a"))
    now = 0.0
    sends = []
    while now < 200:
        for item in backlog.due(now):
            backlog.sent(item, now)
            sends.append(now)
        now += 1
    # Sent, 3 retries 10 s apart, then 60 s later the next round: kept, never dropped.
    assert sends[:6] == [0, 10, 20, 30, 90, 100]
    assert len(backlog) == 1
    assert backlog.answered("a") is not None
    assert len(backlog) == 0
    assert backlog.answered("a") is None


def test_backlog_forgets_what_wants_no_answer_and_resends_all_after_a_reconnect() -> None:
    backlog = Backlog(answer_timeout_s=10)
    backlog.add(_upload("quiet", wants=False))
    backlog.add(_upload("loud"))
    for item in backlog.due(0.0):
        backlog.sent(item, 0.0)
    assert [u.key for u in backlog.due(5.0)] == []
    backlog.reconnected()
    assert [u.key for u in backlog.due(5.0)] == ["loud"]
    assert backlog.next_due() == 0.0


def test_backlog_is_bounded_dropping_the_oldest() -> None:
    backlog = Backlog(max_uploads=2)
    for key in "abc":
        backlog.add(_upload(key))
    assert [u.key for u in backlog.due(0.0)] == ["b", "c"]
    assert backlog.dropped == 1
