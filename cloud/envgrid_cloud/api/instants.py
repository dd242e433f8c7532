"""Instants in requests, with or without an offset (without one, the time is Shanghai's)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from envgrid_common.clock import SHANGHAI

# An unencoded "+" in a query string arrives as a space: "…T08:00:00 08:00" meant "+08:00".
_SPACE_FOR_PLUS = re.compile(r"(.*\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)")

# Instants are kept a day inside what Python's datetime holds, so that any offset or window
# added to them stays representable.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def within_range(value: datetime) -> datetime:
    """``value`` in UTC, moved to EARLIEST or LATEST if it lies beyond them."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # beyond year 1 or 9999 once in UTC
        return EARLIEST if value.year == 1 else LATEST
    return min(max(utc, EARLIEST), LATEST)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; without an offset it is Shanghai time. Raises ``ValueError``."""
    cleaned = text.strip()
    spaced = _SPACE_FOR_PLUS.fullmatch(cleaned)
    if spaced:
        cleaned = f"{spaced[1]}+{spaced[2]}"
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time; use e.g. 2026-05-01T08:00:00+08:00"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value


NAIVE_NOTE = (
    "ISO 8601, e.g. `2026-05-01T08:00:00+08:00` (encode `+` as `%2B`; a `+` that arrives as a "
    "space is understood). **Without an offset the time is read as Asia/Shanghai (UTC+8)** "
    "(不带时区的时间按北京时间理解)."
)
