"""One HJ 212 packet: ``##`` + 4-digit length + data segment + CRC (+ CRLF), checked strictly."""

from __future__ import annotations

import re
from typing import NamedTuple

from envgrid_common.hj212.cp import CpData, parse_cp
from envgrid_common.hj212.crc import CrcMode, crc_standard, crc_value, detect_crc
from envgrid_common.hj212.edition import FLAG_ACK, FLAG_SPLIT, Edition, edition_of
from envgrid_common.hj212.errors import FrameError, Reason
from envgrid_common.hj212.times import valid_time
from envgrid_common.hj212.tolerance import Tolerance

MAX_SEGMENT = 1024  # 表 2: the data segment is 0..1024 characters
MAX_SEGMENT_TOLERATED = 9999  # what 4 length digits can say
_HEX = b"0123456789abcdefABCDEF"
_NON_CONTROL = bytes(b for b in range(256) if b >= 0x20 and b != 0x7F)
_HEADER = frozenset(("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"))
# The usual header in the standard's order, checked in one pass; anything else (other order,
# odd values) goes through the field-by-field checks, which name the fault.
_USUAL_HEADER = re.compile(
    r"(?:QN=([0-9]{17}|[0-9]{14});)?ST=([0-9A-Za-z]{2});CN=([0-9]{4});PW=([0-9A-Za-z]{6});"
    r"MN=([0-9A-Za-z]{1,24});(?:Flag=([0-9]{1,3});)?CP=&&",
    re.ASCII,
)


class Frame(NamedTuple):
    """A frame that passed its CRC and every structural check (a tuple: cheap to make)."""

    qn: str | None
    st: str
    cn: str
    pw: str
    mn: str
    flag: int | None
    pnum: int | None
    pno: int | None
    cp: CpData
    edition: Edition
    crc_mode: CrcMode
    segment: bytes

    @property
    def ack_requested(self) -> bool:
        """Flag's A bit: the sender waits for an answer (9014 for an upload)."""
        return self.flag is not None and bool(self.flag & FLAG_ACK)

    @property
    def split(self) -> bool:
        """The frame is one packet of several (PNUM/PNO)."""
        return self.pnum is not None

    @property
    def factors(self) -> dict[str, dict[str, str]]:
        """Pollutant code → {field → value as sent}."""
        return self.cp.factors

    @property
    def data_time(self) -> str | None:
        """``DataTime`` as sent, or None."""
        return self.cp.fields.get("DataTime")


def _fail(reason: Reason, message: str, raw: bytes) -> FrameError:
    return FrameError(reason, message, raw[: MAX_SEGMENT_TOLERATED + 16])


def _digits(value: str, most: int) -> bool:
    return 0 < len(value) <= most and value.isascii() and value.isdigit()


def parse_frame(
    raw: bytes,
    *,
    crc: CrcMode | None = None,
    tolerance: Tolerance = Tolerance.NONE,
) -> Frame:
    """Check and decode one frame; ``crc=None`` accepts any of the three CRC modes.

    Raises only :class:`FrameError`. A trailing CR/LF is optional; CRC digits may be lowercase.
    """
    if raw[:2] != b"##":
        raise _fail(Reason.NO_HEADER, f"starts with {raw[:8]!r}", raw)
    line = raw.rstrip(b"\r\n")
    length = line[2:6]
    if len(length) != 4 or not length.isdigit():
        raise _fail(Reason.BAD_LENGTH_FIELD, f"length field {length!r}", raw)
    seg_end = len(line) - 4
    if seg_end < 6:
        raise _fail(Reason.TRUNCATED, f"{len(line)} bytes, shorter than an empty frame", raw)
    segment = line[6:seg_end]
    actual = seg_end - 6
    printed_text = line[seg_end:]
    if int(length) != actual and not tolerance & Tolerance.LENGTH:
        message = _length_message(int(length), segment, printed_text)
        raise _fail(Reason.LENGTH_MISMATCH, message, raw)
    if actual > MAX_SEGMENT and not (
        tolerance & Tolerance.OVERSIZE and actual <= MAX_SEGMENT_TOLERATED
    ):
        raise _fail(Reason.OVERSIZE, f"data segment of {actual} bytes", raw)
    if printed_text.translate(None, _HEX):
        raise _fail(Reason.BAD_CRC_TEXT, f"CRC digits {printed_text!r}", raw)
    printed = int(printed_text, 16)
    if crc is None:
        # The standard's CRC first (all 190k frames of the 2016 platform log use it).
        if crc_standard(segment) == printed:
            mode = CrcMode.STANDARD
        else:
            detected = detect_crc(segment, printed)
            if detected is None:
                raise _fail(Reason.CRC_MISMATCH, _crc_message(segment, printed_text, None), raw)
            mode = detected
    elif crc_value(crc, segment) == printed:
        mode = crc
    else:
        raise _fail(Reason.CRC_MISMATCH, _crc_message(segment, printed_text, crc), raw)
    try:
        return _structure(segment, mode, tolerance)
    except FrameError as error:
        error.raw = raw[: MAX_SEGMENT_TOLERATED + 16]
        raise


def _length_message(declared: int, segment: bytes, printed: bytes) -> str:
    message = f"length field says {declared}, the segment has {len(segment)} bytes"
    try:
        checks = printed.translate(None, _HEX) == b"" and detect_crc(segment, int(printed, 16))
    except ValueError:
        checks = None
    if checks:
        return message + f" (its CRC checks as {checks.value}: a miscounting device)"
    return message + " (its CRC does not check either: bytes lost or altered in transit)"


def _crc_message(segment: bytes, printed: bytes, mode: CrcMode | None) -> str:
    expected = crc_value(mode or CrcMode.STANDARD, segment)
    where = mode.value if mode else "any mode; standard"
    return f"frame says {printed.decode('ascii')}, {where} gives {expected:04X}"


def _structure(segment: bytes, mode: CrcMode, tolerance: Tolerance) -> Frame:
    try:
        text = segment.decode("ascii")
    except UnicodeDecodeError:
        try:
            text = segment.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FrameError(Reason.BAD_ENCODING, f"byte {error.start}: not UTF-8") from None
    controls = segment.translate(None, _NON_CONTROL)
    if not controls:
        usual = _usual(text, segment, mode)
        if usual is not None:
            return usual
    cp_at = text.find("CP=&&")
    if cp_at < 0 or (cp_at and text[cp_at - 1] != ";"):
        raise FrameError(Reason.MISSING_FIELD, "no CP=&&")
    if len(text) < cp_at + 7 or not text.endswith("&&"):
        raise FrameError(Reason.BAD_CP, "CP=&& is not closed by && at the segment's end")
    head: dict[str, str] = {}
    if cp_at:
        for item in text[: cp_at - 1].split(";"):
            name, eq, value = item.partition("=")
            if not eq:
                raise FrameError(Reason.BAD_FIELD, f"header item {item[:40]!r}")
            if name not in _HEADER:
                raise FrameError(Reason.UNKNOWN_FIELD, f"header field {name[:40]!r}")
            if name in head:
                raise FrameError(Reason.DUPLICATE_FIELD, f"{name} twice")
            head[name] = value
    st = head.get("ST")
    cn = head.get("CN")
    pw = head.get("PW")
    mn = head.get("MN")
    if st is None or cn is None or pw is None or mn is None:
        missing = [name for name in ("ST", "CN", "PW", "MN") if name not in head]
        raise FrameError(Reason.MISSING_FIELD, ", ".join(missing))
    if controls:
        # A NUL-filled ST ("ST=\0\0", seen in the field) is the ST's fault, judged below.
        rest = text.replace(f"ST={st};", "", 1).encode("utf-8")
        if rest.translate(None, _NON_CONTROL):
            raise FrameError(Reason.CONTROL_CHARACTER, "in the data segment")
    if not (len(st) == 2 and st.isascii() and st.isalnum()) and not (
        tolerance & Tolerance.SYSTEM_CODE and len(st) <= 8
    ):
        raise FrameError(Reason.BAD_ST, f"ST={st[:20]!r}")
    if not (len(cn) == 4 and cn.isascii() and cn.isdigit()):
        raise FrameError(Reason.BAD_CN, f"CN={cn[:20]!r}")
    if not (len(pw) == 6 and pw.isascii() and pw.isalnum()):
        raise FrameError(Reason.BAD_PW, f"PW of {len(pw)} characters")
    if not (0 < len(mn) <= 24 and mn.isascii() and mn.isalnum()):
        raise FrameError(Reason.BAD_MN, f"MN={mn[:30]!r}")
    qn = head.get("QN")
    if qn is not None and not valid_time(qn):
        raise FrameError(Reason.BAD_QN, f"QN={qn[:20]!r}")
    flag_text = head.get("Flag")
    flag: int | None = None
    if flag_text is not None:
        if not _digits(flag_text, 3) or int(flag_text) > 255:
            raise FrameError(Reason.BAD_FLAG, f"Flag={flag_text[:20]!r}")
        flag = int(flag_text)
    edition = edition_of(flag)
    if edition is None:
        raise FrameError(Reason.UNKNOWN_EDITION, f"Flag={flag} has version bits {flag_text}")
    pnum, pno = _split_numbers(head, flag, tolerance)
    cp = parse_cp(text[cp_at + 5 : -2])
    return Frame(qn, st, cn, pw, mn, flag, pnum, pno, cp, edition, mode, segment)


def _usual(text: str, segment: bytes, mode: CrcMode) -> Frame | None:
    """The frame, when its header is the usual one (one regex pass); None: check field by field."""
    usual = _USUAL_HEADER.match(text)
    if usual is None or not text.endswith("&&") or len(text) < usual.end() + 2:
        return None
    qn, st, cn, pw, mn, flag_text = usual.groups()
    if qn is not None and not valid_time(qn):
        raise FrameError(Reason.BAD_QN, f"QN={qn!r}")
    flag = None if flag_text is None else int(flag_text)
    edition = edition_of(flag) if flag is None or flag <= 255 else None
    if edition is None or (flag is not None and flag & FLAG_SPLIT):
        return None
    cp = parse_cp(text[usual.end() : -2])
    return Frame(qn, st, cn, pw, mn, flag, None, None, cp, edition, mode, segment)


def _split_numbers(
    head: dict[str, str], flag: int | None, tolerance: Tolerance
) -> tuple[int | None, int | None]:
    pnum_text = head.get("PNUM")
    pno_text = head.get("PNO")
    if pnum_text is None and pno_text is None:
        if flag is not None and flag & FLAG_SPLIT and not tolerance & Tolerance.SPLIT_FLAG:
            raise FrameError(Reason.BAD_SPLIT, f"Flag={flag} has the D bit but no PNUM/PNO")
        return None, None
    if pnum_text is None or pno_text is None:
        raise FrameError(Reason.BAD_SPLIT, "PNUM without PNO or PNO without PNUM")
    if not (_digits(pnum_text, 4) and _digits(pno_text, 4)):
        raise FrameError(Reason.BAD_SPLIT, f"PNUM={pnum_text[:10]!r}, PNO={pno_text[:10]!r}")
    pnum, pno = int(pnum_text), int(pno_text)
    if not 1 <= pno <= pnum:
        raise FrameError(Reason.BAD_SPLIT, f"PNO={pno} outside 1..PNUM={pnum}")
    # A 2005 upload without Flag may still carry PNUM/PNO (seen in the field).
    if flag is not None and not flag & FLAG_SPLIT and not tolerance & Tolerance.SPLIT_FLAG:
        raise FrameError(Reason.BAD_SPLIT, f"PNUM/PNO with Flag={flag} (no D bit)")
    return pnum, pno


def standard_crc_checks(raw: bytes) -> bool:
    """Whether a line's CRC digits match the HJ 212 CRC of its delimited segment (diagnosis)."""
    line = raw.rstrip(b"\r\n")
    if line[:2] != b"##" or len(line) < 10 or line[-4:].translate(None, _HEX):
        return False
    return crc_standard(line[6:-4]) == int(line[-4:], 16)
