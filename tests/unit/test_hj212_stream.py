"""Frames out of a byte stream, and split packets joined, as pure classes fed bytes and times."""

from __future__ import annotations

import pytest

from envgrid_common.hj212 import (
    CrcMode,
    Edition,
    Frame,
    FrameError,
    Reason,
    SplitReassembler,
    StreamFramer,
    Tolerance,
    parse_frame,
    upload_frames,
)
from tests.unit.hj212_data import water_frame

GOOD = water_frame(crlf=False)  # frames come out without the line end that followed them


def _feed_all(framer: StreamFramer, data: bytes, size: int) -> list[bytes | FrameError]:
    out: list[bytes | FrameError] = []
    for start in range(0, len(data), size):
        out += framer.feed(data[start : start + size])
    return out + framer.close()


def _shape(items: list[bytes | FrameError]) -> list[object]:
    return [item if isinstance(item, bytes) else item.reason for item in items]


@pytest.mark.parametrize("size", [1, 2, 7, 64, 100_000])
def test_frames_come_out_whole_however_the_stream_is_cut(size: int) -> None:
    frames = [water_frame(), water_frame(crlf=False), water_frame(edition=Edition.HJ212_2025)]
    out = _feed_all(StreamFramer(), b"".join(frames), size)
    assert [parse_frame(raw).cn for raw in out if isinstance(raw, bytes)] == ["2011"] * 3
    assert all(isinstance(item, bytes) for item in out)


def test_noise_between_frames_is_one_error_per_run_and_line_ends_are_not_noise() -> None:
    data = b"\r\n" + water_frame() + b"hello there" + water_frame() + b"\r\n\r\n"
    for size in (1, 5, 1000):
        assert _shape(_feed_all(StreamFramer(), data, size)) == [
            GOOD,
            Reason.NO_HEADER,
            GOOD,
        ]


def test_an_overstated_length_is_cut_at_the_line_end_and_the_next_frame_survives() -> None:
    good = water_frame()
    bad = b"##0999" + good[6:]  # says 999 bytes; the line ends long before
    out = _feed_all(StreamFramer(), bad + good, 3)
    assert len(out) == 2
    first = out[0]
    assert isinstance(first, bytes)
    with pytest.raises(FrameError) as caught:
        parse_frame(first)
    assert caught.value.reason is Reason.LENGTH_MISMATCH
    assert out[1] == GOOD


def test_an_understated_length_runs_to_the_line_end_only_when_tolerated() -> None:
    good = water_frame()
    short = b"##%04d" % (len(good) - 12 - 3) + good[6:]
    strict = _feed_all(StreamFramer(), short + good, 11)
    assert strict[-1] == GOOD
    declared = strict[0]
    assert isinstance(declared, bytes)
    with pytest.raises(FrameError):
        parse_frame(declared)  # as declared, its "CRC" is 4 bytes of its data
    lenient = _feed_all(StreamFramer(tolerance=Tolerance.LENGTH), short + good, 11)
    assert len(lenient) == 2
    assert isinstance(lenient[0], bytes)
    assert parse_frame(lenient[0], tolerance=Tolerance.LENGTH).cn == "2011"


def test_a_device_that_waits_for_its_answer_gets_its_frame_out_at_once() -> None:
    framer = StreamFramer(tolerance=Tolerance.LENGTH)
    assert framer.feed(water_frame(crlf=False)) == [water_frame(crlf=False)]


def test_bad_length_fields_and_oversize_claims_resynchronise() -> None:
    good = water_frame()
    out = _feed_all(StreamFramer(), b"##12ab" + good + b"##9999xyz" + good, 4)
    assert _shape(out) == [Reason.BAD_LENGTH_FIELD, GOOD, Reason.OVERSIZE, GOOD]


def test_a_frame_cut_off_at_the_end_is_truncated_and_memory_stays_bounded() -> None:
    framer = StreamFramer()
    assert framer.feed(water_frame()[:50]) == []
    assert framer.pending == 50
    assert _shape(framer.close()) == [Reason.TRUNCATED]
    assert framer.pending == 0
    for _ in range(100):
        framer.feed(b"x" * 10_000)
        assert framer.pending <= 1
    assert _shape(framer.close()) == [Reason.NO_HEADER]


def _split_upload(qn: str = "20240301120000123") -> list[bytes]:
    factors = {f"a{n:05d}": {"Avg": f"{n}.5", "Min": "1.0", "Max": "9.0"} for n in range(40)}
    return upload_frames(
        st="31",
        cn="2051",
        pw="123456",
        mn="MN01",
        data_time="20240301120000",
        factors=factors,
        edition=Edition.HJ212_2017,
        qn=qn,
        ack=True,
    )


def test_a_long_upload_is_split_and_joined_back_whole() -> None:
    packets = _split_upload()
    assert len(packets) > 1
    frames = [parse_frame(raw) for raw in packets]
    assert all(f.split and f.flag == 7 for f in frames)
    joiner = SplitReassembler()
    done: list[Frame] = []
    for frame in reversed(frames):  # any order
        ready, errors = joiner.add(frame, 0.0)
        assert errors == []
        done += ready
    assert len(done) == 1
    (joined,) = done
    assert joined.pnum is None
    assert len(joined.factors) == 40
    assert joined.factors["a00007"]["Avg"] == "7.5"
    assert joined.data_time == "20240301120000"
    assert joiner.pending == 0


def test_unsplit_frames_pass_straight_through() -> None:
    frame = parse_frame(water_frame())
    assert SplitReassembler().add(frame, 0.0) == ([frame], [])


def test_a_missing_packet_times_out_with_what_arrived() -> None:
    first = parse_frame(_split_upload()[0])
    joiner = SplitReassembler(timeout_s=10)
    assert joiner.add(first, 100.0) == ([], [])
    assert joiner.expire(105.0) == []
    (error,) = joiner.expire(111.0)
    assert error.reason is Reason.SPLIT_TIMEOUT
    assert "packets 1 of" in error.message
    assert joiner.pending == 0


def test_a_repeated_packet_is_kept_once_and_a_changed_pnum_starts_over() -> None:
    packets = [parse_frame(raw) for raw in _split_upload()]
    joiner = SplitReassembler()
    joiner.add(packets[0], 0.0)
    assert joiner.add(packets[0], 1.0) == ([], [])
    other = packets[1]._replace(pnum=packets[1].pnum + 1)  # type: ignore[operator]
    ready, errors = joiner.add(other, 2.0)
    assert ready == []
    assert [e.reason for e in errors] == [Reason.BAD_SPLIT]


def test_waiting_uploads_are_bounded() -> None:
    joiner = SplitReassembler(max_pending=3)
    errors: list[FrameError] = []
    for n in range(5):
        first = parse_frame(_split_upload(qn=f"2024030112000{n}123")[0])
        errors += joiner.add(first, float(n))[1]
    assert joiner.pending == 3
    assert [e.reason for e in errors] == [Reason.SPLIT_TIMEOUT] * 2


@pytest.mark.parametrize("mode", list(CrcMode))
def test_split_packets_carry_the_devices_crc_mode(mode: CrcMode) -> None:
    packets = upload_frames(
        st="31",
        cn="2051",
        pw="123456",
        mn="MN01",
        data_time="20240301120000",
        factors={f"a{n:05d}": {"Avg": "1.0"} for n in range(80)},
        edition=Edition.HJT212_2005,
        crc=mode,
    )
    assert len(packets) > 1
    assert {parse_frame(raw).crc_mode for raw in packets} == {mode}
