"""Deviations from the standard that a device is allowed, one flag each, set per device."""

from __future__ import annotations

from enum import IntFlag


class Tolerance(IntFlag):
    """Known field deviations accepted on purpose; the default (``NONE``) is strict.

    Always accepted, as every field device does them (STANDARDS.md §2): a missing CRLF,
    lowercase CRC digits, 14- or 17-digit times, 2005 frames without QN or Flag.
    """

    NONE = 0
    # The length field miscounts (e.g. characters instead of UTF-8 bytes): the frame is
    # taken as delimited (line end or CRLF) when its CRC and structure check.
    LENGTH = 1
    # A data segment longer than the standard's 1024 bytes (devices that never split).
    OVERSIZE = 2
    # An empty, NUL-filled or over-long ST (seen: "ST=  ", "ST=\0\0", "ST=101").
    SYSTEM_CODE = 4
    # PNUM/PNO without Flag's D bit, or Flag's D bit without PNUM/PNO.
    SPLIT_FLAG = 8

    @classmethod
    def parse(cls, names: str) -> Tolerance:
        """``"length,oversize"`` → ``LENGTH | OVERSIZE``; ``""`` or ``"none"`` → ``NONE``."""
        result = cls.NONE
        for name in names.replace("+", ",").split(","):
            key = name.strip().upper().replace("-", "_")
            if not key or key == "NONE":
                continue
            if key == "ALL":
                result |= cls.LENGTH | cls.OVERSIZE | cls.SYSTEM_CODE | cls.SPLIT_FLAG
                continue
            try:
                result |= cls[key]
            except KeyError:
                known = ", ".join(m.name.lower() for m in cls if m.name and m.name != "NONE")
                raise ValueError(f"unknown tolerance {name!r} (known: {known}, all)") from None
        return result
