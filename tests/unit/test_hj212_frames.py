"""Frames judged strictly: the field samples, each refusal reason, tolerances, editions."""

from __future__ import annotations

from typing import Any

import pytest

from envgrid_common.hj212 import (
    CrcMode,
    Edition,
    FrameError,
    Reason,
    Tolerance,
    build_frame,
    crc_text,
    parse_frame,
)
from tests.unit.hj212_data import field_samples, needs_frames, water_frame

SAMPLES = field_samples()


def _refused(raw: bytes, **options: Any) -> FrameError:
    with pytest.raises(FrameError) as caught:
        parse_frame(raw, **options)
    return caught.value


def _reframe(segment: bytes, *, crc: CrcMode = CrcMode.STANDARD) -> bytes:
    """A frame around any segment, with a right length and CRC (to reach the structure checks)."""
    return b"##%04d%s%s\r\n" % (len(segment), segment, crc_text(crc, segment))


@needs_frames
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s["frame"][6:40])
def test_field_sample_standard_crc_verdict_equals_crc_ok(sample: dict[str, Any]) -> None:
    raw = sample["frame"].encode("utf-8")
    if sample["crc_ok"]:
        assert parse_frame(raw, crc=CrcMode.STANDARD).crc_mode is CrcMode.STANDARD
        return
    # Refused for its CRC, or (a frame over 1024 bytes) before the CRC is looked at; with the
    # size tolerated, for its CRC.
    assert _refused(raw, crc=CrcMode.STANDARD).reason in (Reason.CRC_MISMATCH, Reason.OVERSIZE)
    refused = _refused(raw, crc=CrcMode.STANDARD, tolerance=Tolerance.OVERSIZE)
    assert refused.reason is Reason.CRC_MISMATCH


@needs_frames
@pytest.mark.parametrize("sample", [s for s in SAMPLES if s["crc_ok"]], ids=lambda s: s["cn"])
def test_valid_field_samples_decode_to_command_mn_and_factors(sample: dict[str, Any]) -> None:
    frame = parse_frame(sample["frame"].encode("utf-8"))
    assert frame.crc_mode is CrcMode.STANDARD
    assert frame.cn == sample["cn"]
    assert frame.mn == sample["mn"]
    assert frame.st == sample["st"]
    assert sorted(frame.factors) == sorted(sample["factor_codes"])
    assert frame.flag == (None if sample["flag"] is None else int(sample["flag"]))
    assert str(frame.pnum) == sample["pnum"].lstrip("0") if sample["pnum"] else frame.pnum is None
    assert frame.edition.value == sample["version"][:4]


@needs_frames
def test_field_samples_in_modbus_are_detected_in_their_byte_order() -> None:
    modbus = [s for s in SAMPLES if s["crc_variant"].startswith("modbus")]
    assert modbus, "the samples include CRC-16/MODBUS frames"
    for sample in modbus:
        raw = sample["frame"].encode("utf-8")
        mode = CrcMode(sample["crc_variant"].replace("_", "-"))
        try:
            frame = parse_frame(raw, crc=mode, tolerance=Tolerance.OVERSIZE | Tolerance.SPLIT_FLAG)
        except FrameError as error:
            pytest.fail(f"{sample['frame'][:50]}: {error}")
        assert frame.crc_mode is mode
        assert frame.cn == sample["cn"]
        with pytest.raises(FrameError):
            parse_frame(raw, crc=CrcMode.STANDARD, tolerance=Tolerance.OVERSIZE)


@pytest.mark.parametrize("edition", list(Edition))
@pytest.mark.parametrize("mode", list(CrcMode))
def test_generated_frames_of_every_edition_and_crc_mode_decode(
    edition: Edition, mode: CrcMode
) -> None:
    frame = parse_frame(water_frame(edition=edition, crc=mode, ack=True))
    assert frame.edition is edition
    assert frame.crc_mode is mode
    assert frame.ack_requested
    assert frame.factors["w21003"] == {"Rtd": "1.20", "Flag": "D"}
    assert frame.data_time == "20240301120000"
    with pytest.raises(FrameError):
        parse_frame(
            water_frame(edition=edition, crc=mode),
            crc=next(m for m in CrcMode if m is not mode),
        )


def test_missing_crlf_and_lowercase_crc_are_accepted() -> None:
    raw = water_frame(crlf=False)
    lower = raw[:-4] + raw[-4:].lower()
    assert parse_frame(lower).cn == "2011"


def test_seventeen_digit_data_time_is_accepted_and_a_bad_date_is_not() -> None:
    assert parse_frame(water_frame(cp="DataTime=20240301120000123;w01018-Rtd=1")).data_time
    error = _refused(water_frame(cp="DataTime=20241301120000;w01018-Rtd=1"))
    assert error.reason is Reason.BAD_TIME


def test_a_bad_sample_time_is_refused() -> None:
    good = "DataTime=20240301120000;w01018-Rtd=1.0,w01018-SampleTime=20240301110000"
    assert parse_frame(water_frame(cp=good)).factors["w01018"]["SampleTime"]
    bad = good.replace("0301110000", "0301250000")
    assert _refused(water_frame(cp=bad)).reason is Reason.BAD_TIME


def test_an_empty_cp_is_a_frame() -> None:
    frame = parse_frame(water_frame(cp=""))
    assert frame.factors == {}
    assert frame.cp.fields == {}


GOOD = water_frame()
SEGMENT = GOOD[6:-6]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"#0" + GOOD[2:], Reason.NO_HEADER),
        (b"##01x1" + GOOD[6:], Reason.BAD_LENGTH_FIELD),
        (b"##%04d" % (len(SEGMENT) + 1) + GOOD[6:], Reason.LENGTH_MISMATCH),
        (b"##0001", Reason.TRUNCATED),
        (GOOD[:-6] + b"1C8G\r\n", Reason.BAD_CRC_TEXT),
        (GOOD[:-6] + b"0000\r\n", Reason.CRC_MISMATCH),
        (GOOD + b"x", Reason.LENGTH_MISMATCH),
        (_reframe(SEGMENT.replace(b"w01018", b"w01\xff18")), Reason.BAD_ENCODING),
        (_reframe(SEGMENT.replace(b"23.5", b"2\x003.")), Reason.CONTROL_CHARACTER),
        (_reframe(SEGMENT.replace(b"PW=123456", b"P3456")), Reason.BAD_FIELD),
        (_reframe(SEGMENT.replace(b"PW=123456;", b"")), Reason.MISSING_FIELD),
        (_reframe(SEGMENT.replace(b"CP=&&", b"CP=")), Reason.MISSING_FIELD),
        (_reframe(SEGMENT.replace(b"CN=2011", b"CN=2011;CN=2011")), Reason.DUPLICATE_FIELD),
        (_reframe(SEGMENT.replace(b"CN=2011", b"CN=2011;XX=1")), Reason.UNKNOWN_FIELD),
        (_reframe(SEGMENT.replace(b"QN=20240301120000123", b"QN=2024030112")), Reason.BAD_QN),
        (_reframe(SEGMENT.replace(b"ST=32", b"ST=322011")), Reason.BAD_ST),
        (_reframe(SEGMENT.replace(b"ST=32", b"ST=\x00\x00")), Reason.BAD_ST),
        (_reframe(SEGMENT.replace(b"CN=2011", b"CN=201")), Reason.BAD_CN),
        (_reframe(SEGMENT.replace(b"PW=123456", b"PW=1234567")), Reason.BAD_PW),
        (_reframe(SEGMENT.replace(b"MN=", b"MN=ABCDEFGHIJKLMNOPQRSTUVWXYZ")), Reason.BAD_MN),
        (_reframe(SEGMENT.replace(b"Flag=4", b"Flag=256")), Reason.BAD_FLAG),
        (_reframe(SEGMENT.replace(b"Flag=4", b"Flag=12")), Reason.UNKNOWN_EDITION),
        (_reframe(SEGMENT.replace(b"Flag=4", b"Flag=6")), Reason.BAD_SPLIT),
        (_reframe(SEGMENT.replace(b"Flag=4", b"Flag=6;PNUM=2;PNO=3")), Reason.BAD_SPLIT),
        (_reframe(SEGMENT.replace(b"Flag=4", b"Flag=4;PNUM=2;PNO=1")), Reason.BAD_SPLIT),
        (_reframe(SEGMENT[:-2]), Reason.BAD_CP),
        (_reframe(SEGMENT.replace(b";w21003", b";;w21003")), Reason.BAD_CP_ITEM),
        (_reframe(SEGMENT.replace(b"w21003-Rtd", b"w21-003-Rtd")), Reason.BAD_CP_ITEM),
        (_reframe(SEGMENT.replace(b"23.5", b"2e5")), Reason.BAD_VALUE),
        (_reframe(SEGMENT.replace(b"Flag=D", b"Flag=DD")), Reason.BAD_VALUE),
        (
            _reframe(b"ST=32;CN=2011;PW=123456;MN=A;CP=&&" + b"a=1;" * 300 + b"b=2&&"),
            Reason.OVERSIZE,
        ),
    ],
    ids=lambda value: value.value if isinstance(value, Reason) else "",
)
def test_each_fault_is_refused_with_its_reason(raw: bytes, reason: Reason) -> None:
    assert _refused(raw).reason is reason


def test_the_length_refusal_says_whether_the_crc_checks() -> None:
    good_crc = b"##%04d" % (len(SEGMENT) + 2) + GOOD[6:]
    assert "a miscounting device" in _refused(good_crc).message
    lost = b"##%04d" % len(SEGMENT) + SEGMENT[:-5] + SEGMENT[-3:] + GOOD[-6:]
    assert "lost or altered" in _refused(lost).message


def test_tolerances_accept_each_deviation_only_when_asked() -> None:
    miscounted = b"##%04d" % (len(SEGMENT) + 2) + GOOD[6:]
    assert parse_frame(miscounted, tolerance=Tolerance.LENGTH).cn == "2011"
    nul_st = _reframe(SEGMENT.replace(b"ST=32", b"ST=\x00\x00"))
    assert parse_frame(nul_st, tolerance=Tolerance.SYSTEM_CODE).st == "\x00\x00"
    big = _reframe(b"ST=32;CN=2011;PW=123456;MN=A;CP=&&" + b"a=1;" * 300 + b"b=2&&")
    assert parse_frame(big, tolerance=Tolerance.OVERSIZE).cp.fields["b"] == "2"
    d_bit = _reframe(SEGMENT.replace(b"Flag=4", b"Flag=6"))
    assert parse_frame(d_bit, tolerance=Tolerance.SPLIT_FLAG).pnum is None
    # A NUL anywhere else is still refused.
    nul_cp = _reframe(SEGMENT.replace(b"23.5", b"2\x003."))
    assert _refused(nul_cp, tolerance=Tolerance.SYSTEM_CODE).reason is Reason.CONTROL_CHARACTER


def test_tolerance_names_parse() -> None:
    assert Tolerance.parse("length, oversize") == Tolerance.LENGTH | Tolerance.OVERSIZE
    assert Tolerance.parse("none") == Tolerance.NONE
    assert Tolerance.parse("all") & Tolerance.SPLIT_FLAG
    with pytest.raises(ValueError, match="unknown tolerance"):
        Tolerance.parse("crc")


def test_header_fields_in_another_order_and_a_split_2005_upload_without_flag() -> None:
    segment = b"ST=31;CN=2051;PW=123456;MN=14513567846884;PNO=0002;PNUM=0002;CP=&&a=1&&"
    frame = parse_frame(_reframe(segment))
    assert (frame.pnum, frame.pno, frame.edition) == (2, 2, Edition.HJT212_2005)


def test_utf8_text_is_counted_and_checked_in_bytes() -> None:
    frame = parse_frame(water_frame(cp="DataTime=20240301120000;i11001-Info=//清洗管路//"))
    assert frame.cp.fields["i11001-Info"] == "//清洗管路//"


def test_a_flag_other_than_n_is_not_hidden_by_an_earlier_n() -> None:
    cp = "DataTime=20240301120000;01-Rtd=1.0,01-Flag=N;01-ZsRtd=1.2,01-Flag=D"
    assert parse_frame(water_frame(cp=cp)).factors["01"]["Flag"] == "D"


def test_vendor_fields_stay_fields_and_equipment_states_are_factors() -> None:
    cp = "DataTime=20240301120000;CON-RT=0;SB1-RS=1;100000-Ia=401.4,100000-Flag=N"
    frame = parse_frame(water_frame(cp=cp))
    assert set(frame.factors) == {"SB1"}
    assert frame.cp.fields["CON-RT"] == "0"
    assert frame.cp.fields["100000-Ia"] == "401.4"


def test_build_frame_refuses_what_cannot_be_framed() -> None:
    with pytest.raises(ValueError, match="cannot be framed"):
        build_frame(st="32", cn="2011", pw="123456", mn="A", cp="a=" + "1" * 10000)
