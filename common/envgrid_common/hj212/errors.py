"""The one error the HJ 212 codec raises: a refused frame with a reason code."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a frame (or a run of stream bytes) was refused; the value is the stable code."""

    NO_HEADER = "no_header"
    BAD_LENGTH_FIELD = "bad_length_field"
    LENGTH_MISMATCH = "length_mismatch"
    OVERSIZE = "oversize"
    TRUNCATED = "truncated"
    BAD_CRC_TEXT = "bad_crc_text"
    CRC_MISMATCH = "crc_mismatch"
    BAD_ENCODING = "bad_encoding"
    CONTROL_CHARACTER = "control_character"
    BAD_FIELD = "bad_field"
    MISSING_FIELD = "missing_field"
    DUPLICATE_FIELD = "duplicate_field"
    UNKNOWN_FIELD = "unknown_field"
    BAD_QN = "bad_qn"
    BAD_ST = "bad_st"
    BAD_CN = "bad_cn"
    BAD_PW = "bad_pw"
    BAD_MN = "bad_mn"
    BAD_FLAG = "bad_flag"
    UNKNOWN_EDITION = "unknown_edition"
    BAD_SPLIT = "bad_split"
    BAD_CP = "bad_cp"
    BAD_CP_ITEM = "bad_cp_item"
    BAD_VALUE = "bad_value"
    BAD_TIME = "bad_time"
    SPLIT_TIMEOUT = "split_timeout"


EXPLANATIONS: dict[Reason, str] = {
    Reason.NO_HEADER: "bytes that do not start with the '##' packet header",
    Reason.BAD_LENGTH_FIELD: "the 4 characters after '##' are not a decimal length",
    Reason.LENGTH_MISMATCH: "the length field does not count the data segment's bytes",
    Reason.OVERSIZE: "data segment longer than the standard's 1024 bytes (or the bound set)",
    Reason.TRUNCATED: "the stream ended (or went idle) inside a frame",
    Reason.BAD_CRC_TEXT: "the CRC is not 4 hexadecimal digits",
    Reason.CRC_MISMATCH: "the CRC does not match the data segment in the CRC mode(s) allowed",
    Reason.BAD_ENCODING: "the data segment is not ASCII/UTF-8",
    Reason.CONTROL_CHARACTER: "a control character (NUL, CR, LF, ...) inside the data segment",
    Reason.BAD_FIELD: "a header item that is not NAME=VALUE",
    Reason.MISSING_FIELD: "ST, CN, PW, MN or CP=&&...&& is missing",
    Reason.DUPLICATE_FIELD: "a header field appears twice",
    Reason.UNKNOWN_FIELD: "a header field the standard does not define",
    Reason.BAD_QN: "QN is not a 17-digit (or 14-digit) time stamp",
    Reason.BAD_ST: "ST is not a 2-character system code",
    Reason.BAD_CN: "CN is not a 4-digit command code",
    Reason.BAD_PW: "PW is not 1-6 letters or digits",
    Reason.BAD_MN: "MN is not 1-24 letters or digits",
    Reason.BAD_FLAG: "Flag is not an integer 0-255",
    Reason.UNKNOWN_EDITION: "Flag's version bits name no edition (2005=0, 2017=1, 2025=2)",
    Reason.BAD_SPLIT: "PNUM/PNO missing, malformed, out of range or not matching Flag's D bit",
    Reason.BAD_CP: "the data area is not CP=&&...&& at the end of the segment",
    Reason.BAD_CP_ITEM: "a CP item that is not NAME=VALUE with a valid name",
    Reason.BAD_VALUE: "a measured value that is not a number, or a data flag not one letter",
    Reason.BAD_TIME: "a time field that is not a valid 14- or 17-digit date and time",
    Reason.SPLIT_TIMEOUT: "a split packet's other parts did not arrive in time",
}


class FrameError(Exception):
    """A refused frame: ``reason`` is the stable code, ``message`` says what was seen."""

    def __init__(self, reason: Reason, message: str, raw: bytes = b"") -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message
        self.raw = raw
