"""Aggregation intervals: ``15m``, ``1h``, ``1d`` or ISO 8601 durations such as ``PT15M``."""

from __future__ import annotations

import re
from datetime import timedelta

MIN_BUCKET = timedelta(seconds=1)
MAX_BUCKET = timedelta(days=366)

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SHORT = re.compile(r"(\d{1,9})\s*(s|m|min|h|d|w)", re.IGNORECASE)
_ISO = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?",
    re.IGNORECASE,
)

FORMS = (
    "`30s`, `1m`, `15m`, `1h`, `1d`, `1w` (m is minutes), or an ISO 8601 duration such as "
    "`PT15M`, `PT1H30M`, `P1D`; from 1 second to 366 days. Months and years are not fixed "
    "intervals and are refused"
)

# The forms the API accepts, exactly, each within 1 second … 366 days by its digits: a number
# and a unit (at most 9,999,999 s, 99,999 min, 999 h, 366 d or 52 w), or an ISO 8601
# duration of weeks, or of days (≤ 365) and hours (≤ 23), minutes and seconds (≤ 59), or P366D.
_DAYS = r"(?:[1-9][0-9]?|[12][0-9]{2}|3[0-5][0-9]|36[0-5])"
_SIXTY = r"(?:[1-9]|[1-5][0-9])"
_HOURS = r"(?:[1-9]|1[0-9]|2[0-3])"
_WEEKS = r"(?:[1-9]|[1-4][0-9]|5[0-2])"
_TIME = (
    rf"[tT](?:{_HOURS}[hH](?:{_SIXTY}[mM])?(?:{_SIXTY}[sS])?"
    rf"|{_SIXTY}[mM](?:{_SIXTY}[sS])?|{_SIXTY}[sS])"
)
BUCKET_PATTERN = (
    r"^(?:[1-9][0-9]{0,6}[sS]|[1-9][0-9]{0,4}(?:[mM]|[mM][iI][nN])|[1-9][0-9]{0,2}[hH]"
    rf"|(?:{_DAYS}|366)[dD]|{_WEEKS}[wW]"
    rf"|[pP](?:{_WEEKS}[wW]|366[dD]|{_DAYS}[dD](?:{_TIME})?|{_TIME}))$"
)
_BUCKET = re.compile(BUCKET_PATTERN)


def parse_bucket(text: str) -> timedelta:
    """The interval ``text`` names. Raises ``ValueError`` saying which forms are accepted."""
    cleaned = text.strip()
    short = _SHORT.fullmatch(cleaned)
    if short:
        interval = timedelta(seconds=int(short[1]) * _UNITS[short[2].lower()])
    else:
        iso = _ISO.fullmatch(cleaned)
        if not iso or cleaned.upper() == "P":
            raise ValueError(f"{text!r} is not an interval; use {FORMS}")
        parts = {k: int(v) for k, v in iso.groupdict().items() if v is not None}
        if parts.get("years") or parts.get("months"):
            raise ValueError(f"{text!r}: months and years are not fixed intervals; use days")
        try:
            interval = timedelta(
                weeks=parts.get("weeks", 0),
                days=parts.get("days", 0),
                hours=parts.get("hours", 0),
                minutes=parts.get("minutes", 0),
                seconds=parts.get("seconds", 0),
            )
        except OverflowError:
            raise ValueError(f"{text!r} is longer than {MAX_BUCKET.days} days") from None
    if not MIN_BUCKET <= interval <= MAX_BUCKET:
        raise ValueError(f"{text!r}: an interval runs from 1 second to {MAX_BUCKET.days} days")
    return interval


def parse_bucket_parameter(text: str) -> timedelta:
    """The interval of the API's ``bucket`` parameter: one of the forms of BUCKET_PATTERN."""
    interval = parse_bucket(text)  # says what is wrong with nonsense, months or 0 s
    if not _BUCKET.fullmatch(text):
        raise ValueError(
            f"{text!r}: write it as a number and a unit (e.g. 15m, at most 9999999s, 99999m, "
            "999h, 366d or 52w) or an ISO 8601 duration of weeks, or days (≤ 365) with hours "
            "(≤ 23), minutes and seconds (≤ 59), such as PT15M or P1DT12H"
        )
    return interval


def iso_duration(interval: timedelta) -> str:
    """``interval`` as an ISO 8601 duration (``PT15M``, ``P1DT12H``)."""
    hours, rest = divmod(interval.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    day_part = f"{interval.days}D" if interval.days else ""
    time_part = "".join(
        f"{amount}{unit}"
        for amount, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
        if amount
    )
    return f"P{day_part}" + (f"T{time_part}" if time_part else "")
