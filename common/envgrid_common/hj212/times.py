"""HJ 212 time stamps: 14 (YYYYMMDDhhmmss) or 17 digits (with milliseconds), China time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "CST")  # China has kept UTC+8 without DST since 1991


def valid_time(text: str) -> bool:
    """True for a 14- or 17-digit stamp whose month, day, hour, minute and second exist."""
    if len(text) not in (14, 17) or not (text.isascii() and text.isdigit()):
        return False
    # String comparisons of digit pairs: several times cheaper than building a datetime.
    day = text[6:8]
    if not (
        text[:4] != "0000"
        and "01" <= text[4:6] <= "12"
        and "01" <= day <= "31"
        and text[8:10] <= "23"
        and text[10:12] <= "59"
        and text[12:14] <= "59"
    ):
        return False
    if day > "28":  # the 29th to the 31st exist in some months only
        try:
            datetime(int(text[0:4]), int(text[4:6]), int(day), tzinfo=CHINA)
        except ValueError:
            return False
    return True


def parse_time(text: str) -> datetime:
    """The instant a stamp names on China's clock, in UTC (ValueError if not a stamp)."""
    if not valid_time(text):
        raise ValueError(f"not an HJ 212 time stamp: {text!r}")
    milliseconds = int(text[14:17]) if len(text) == 17 else 0
    local = datetime(
        int(text[0:4]),
        int(text[4:6]),
        int(text[6:8]),
        int(text[8:10]),
        int(text[10:12]),
        int(text[12:14]),
        milliseconds * 1000,
        tzinfo=CHINA,
    )
    return local.astimezone(UTC)


def format_time(instant: datetime, *, milliseconds: bool = False) -> str:
    """An aware instant as the stamp a device on China's clock writes (14 or 17 digits)."""
    local = instant.astimezone(CHINA)
    text = local.strftime("%Y%m%d%H%M%S")
    if milliseconds:
        text += f"{local.microsecond // 1000:03d}"
    return text
