"""Property tests: mutated, random and randomly cut frames never crash, hang or get through."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envgrid_common.hj212 import (
    CrcMode,
    Edition,
    Frame,
    FrameError,
    StreamFramer,
    Tolerance,
    build_frame,
    crc_text,
    make_flag,
    parse_frame,
)
from envgrid_common.hj212.cp import CpData, _parse_checked, parse_cp
from tests.unit.hj212_data import field_samples

# An oracle written apart from the parser, from the standard's grammar (STANDARDS.md §1.1-1.5).
_TIME = r"(?:[0-9]{14}|[0-9]{17})"
_HEAD = (
    rf"(?:QN={_TIME}|ST=[0-9A-Za-z]{{2}}|CN=[0-9]{{4}}|PW=[0-9A-Za-z]{{6}}"
    r"|MN=[0-9A-Za-z]{1,24}|Flag=[0-9]{1,3}|PNUM=[0-9]{1,4}|PNO=[0-9]{1,4})"
)
_NUMBER = r"-?[0-9]{1,14}(?:\.[0-9]{1,8})?"
_VALUE_FIELD = r"(?:Rtd|Avg|Min|Max|Cou|ZsRtd|ZsAvg|ZsMin|ZsMax|ZsCou)"
_ITEM = r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)?=[^;,=]*"
_SEGMENT = re.compile(rf"(?:{_HEAD};)*CP=&&(?:{_ITEM}(?:[;,]{_ITEM})*)?&&", re.ASCII)
_ODD_ST_SEGMENT = re.compile(
    _SEGMENT.pattern.replace("ST=[0-9A-Za-z]{2}", "ST=[^;]{0,8}"), re.ASCII | re.DOTALL
)
_VALUES = re.compile(rf"-{_VALUE_FIELD}=([^;,]*)")
_CRC_MODES = list(CrcMode)


def _checks(raw: bytes, frame: Frame, tolerance: Tolerance) -> None:
    """What an accepted frame must satisfy, judged without the parser."""
    line = raw.rstrip(b"\r\n")
    segment = line[6:-4]
    assert line[:2] == b"##"
    if not tolerance & Tolerance.LENGTH:
        assert int(line[2:6]) == len(segment)
    if not tolerance & Tolerance.OVERSIZE:
        assert len(segment) <= 1024
    assert crc_text(frame.crc_mode, segment) == line[-4:].upper()
    text = segment.decode("utf-8")
    if tolerance & Tolerance.SYSTEM_CODE:
        # An odd ST (even NULs) is accepted on purpose; nothing else may be odd.
        st_value = re.search(r"(?:^|;)ST=([^;]*);", text)
        assert st_value is not None
        rest = text.replace(f"ST={st_value.group(1)};", "", 1)
        assert all(ord(c) >= 0x20 and ord(c) != 0x7F for c in rest)
        assert _ODD_ST_SEGMENT.fullmatch(text), text
    else:
        assert all(b >= 0x20 and b != 0x7F for b in segment)
        assert _SEGMENT.fullmatch(text), text
    head = text[: text.index("CP=&&")].split(";")[:-1]
    names = [item.split("=", 1)[0] for item in head]
    assert len(names) == len(set(names))
    assert {"ST", "CN", "PW", "MN"} <= set(names)
    body = text[text.index("CP=&&") + 5 : -2]
    assert all(re.fullmatch(_NUMBER, value) for value in _VALUES.findall(body))
    if frame.flag is not None:
        assert frame.flag <= 255
        assert frame.flag >> 2 in (0, 1, 2)


names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=1,
    max_size=8,
)
numbers = st.decimals(min_value=-99999, max_value=99999, places=3, allow_nan=False).map(str)


@st.composite
def good_frames(draw: st.DrawFn) -> bytes:
    """A well-formed frame of any edition and CRC mode."""
    edition = draw(st.sampled_from(list(Edition)))
    factors = draw(
        st.dictionaries(
            names,
            st.fixed_dictionaries({"Rtd": numbers}, optional={"Flag": st.sampled_from("NFMSDCTB")}),
            max_size=12,
        )
    )
    cp = ";".join(
        ["DataTime=20240301120000"]
        + [",".join(f"{c}-{k}={v}" for k, v in values.items()) for c, values in factors.items()]
    )
    return build_frame(
        st=draw(st.sampled_from(["21", "22", "31", "32", "91", "A1"])),
        cn=draw(st.sampled_from(["2011", "2051", "2061", "9014", "9015"])),
        pw="123456",
        mn=draw(names),
        qn="20240301120000123",
        flag=make_flag(edition, ack=draw(st.booleans())),
        cp=cp,
        crc=draw(st.sampled_from(_CRC_MODES)),
        crlf=draw(st.booleans()),
    )


def _seeds() -> list[bytes]:
    return [s["frame"].encode("utf-8") for s in field_samples()]


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A good or field frame with bytes changed, inserted, deleted or repeated; its length and
    CRC sometimes fixed up afterwards, so that the structure checks are what must catch it."""
    seeds = _seeds()
    raw = draw(good_frames() | (st.sampled_from(seeds) if seeds else good_frames()))
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "case"]))
        if kind == "flip" and data:
            data[at] = draw(st.sampled_from(b"#&;,=-.0123456789AZaz \x00\r\n\xe4\xff"))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=6))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 6))]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 12))]
        elif data:
            data[at] = ord(chr(data[at]).swapcase()) if data[at] < 128 else data[at]
    out = bytes(data)
    if draw(st.booleans()):
        segment = out.rstrip(b"\r\n")[6:-4]
        mode = draw(st.sampled_from(_CRC_MODES))
        out = b"##%04d%s%s" % (len(segment) % 10000, segment, crc_text(mode, segment))
    return out


tolerances = st.sampled_from(
    [Tolerance.NONE, Tolerance.LENGTH, Tolerance.parse("all"), Tolerance.SYSTEM_CODE]
)


def _judge(raw: bytes, tolerance: Tolerance, crc: CrcMode | None) -> None:
    try:
        frame = parse_frame(raw, crc=crc, tolerance=tolerance)
    except FrameError:
        return
    _checks(raw, frame, tolerance)


@settings(
    max_examples=200, deadline=timedelta(seconds=1), suppress_health_check=[HealthCheck.too_slow]
)
@given(good_frames())
def test_good_frames_are_accepted_and_pass_the_oracle(raw: bytes) -> None:
    frame = parse_frame(raw)
    _checks(raw, frame, Tolerance.NONE)


@settings(
    max_examples=600, deadline=timedelta(seconds=1), suppress_health_check=[HealthCheck.too_slow]
)
@given(mutated_frames(), tolerances, st.sampled_from([None, *_CRC_MODES]))
def test_mutated_frames_are_refused_with_frame_error_or_really_check(
    raw: bytes, tolerance: Tolerance, crc: CrcMode | None
) -> None:
    _judge(raw, tolerance, crc)


@settings(max_examples=500, deadline=timedelta(seconds=1))
@given(st.binary(max_size=1200), tolerances)
def test_random_bytes_never_raise_anything_else(raw: bytes, tolerance: Tolerance) -> None:
    _judge(raw, tolerance, None)
    _judge(b"##" + raw, tolerance, None)


@settings(
    max_examples=150, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.lists(good_frames() | mutated_frames() | st.binary(max_size=40), min_size=1, max_size=8),
    st.lists(st.integers(1, 300), min_size=1, max_size=40),
    tolerances,
)
def test_a_stream_cut_anywhere_yields_checked_frames_in_bounded_memory(
    pieces: list[bytes], cuts: list[int], tolerance: Tolerance
) -> None:
    stream = b"".join(pieces)
    framer = StreamFramer(tolerance=tolerance)
    bound = 6 + framer.max_segment + 4 + 2
    out: list[bytes | FrameError] = []
    at = 0
    sizes = iter(cuts * (len(stream) // max(1, sum(cuts)) + 1))
    while at < len(stream):
        size = next(sizes)
        out += framer.feed(stream[at : at + size])
        at += size
        assert framer.pending <= bound
    out += framer.close()
    emitted = sum(len(item) for item in out if isinstance(item, bytes))
    assert emitted <= len(stream)
    for item in out:
        if isinstance(item, bytes):
            _judge(item, tolerance, None)
        else:
            assert isinstance(item, FrameError)
    # The same stream in one piece gives the same frames and errors: cuts change nothing.
    whole = StreamFramer(tolerance=tolerance)
    again = whole.feed(stream) + whole.close()
    assert [i if isinstance(i, bytes) else i.reason for i in again] == [
        i if isinstance(i, bytes) else i.reason for i in out
    ]


def _outcome(parse: Callable[[str], CpData], text: str) -> object:
    try:
        return parse(text)
    except FrameError as error:
        return error.reason


cp_text = st.text(alphabet="aw01-RtdFlagNDZsSampleTime=;,.&_ 9x", max_size=60) | st.lists(
    st.sampled_from(
        [
            "w01018-Rtd=1.5",
            "w01018-Flag=N",
            "01-Flag=D",
            "DataTime=20240301120000",
            "SB1-RS=1",
            "CON-RT=0",
            "a-SampleTime=20240301110000",
            "a-SampleTime=20241301110000",
            "x=",
            "=1",
            "a-Rtd=-",
            "a-Rtd=1e5",
            "a-Flag=n",
            "a-b-c=1",
            "QN=2024",
        ]
    ),
    max_size=6,
).map(lambda items: ";".join(items))


@settings(max_examples=500, deadline=timedelta(seconds=1))
@given(cp_text)
def test_the_one_pass_grammar_and_the_item_checks_agree(text: str) -> None:
    assert _outcome(parse_cp, text) == _outcome(_parse_checked, text)
