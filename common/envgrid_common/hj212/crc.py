"""The HJ 212 CRC and the two CRC-16/MODBUS byte orders seen in the field, with a detector."""

from __future__ import annotations

import sys
from enum import StrEnum


class CrcMode(StrEnum):
    """How a device computes and prints the frame's 4 hex CRC digits."""

    STANDARD = "standard"  # HJ 212 附录 A: reg = (reg >> 8) ^ byte, high byte first
    MODBUS_LE = "modbus-le"  # CRC-16/MODBUS printed low byte first (Modbus wire order)
    MODBUS_BE = "modbus-be"  # CRC-16/MODBUS printed as its value, high byte first


def _register_table() -> list[int]:
    """The register after the 8 shift/XOR steps, for each value of its low byte."""
    table = []
    for value in range(256):
        reg = value
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
        table.append(reg)
    return table


_FULL = _register_table()
# The HJ 212 variant keeps only the register's high byte from one byte to the next (the
# low byte is dropped by ``reg >> 8``), so its state is 8 bits: h' = HIGH[h ^ byte].
_HIGH = bytes(reg >> 8 for reg in _FULL)


def _pair_table() -> list[int]:
    # Two bytes a step: index = (h ^ b1) | b2 << 8, i.e. one native little-endian 16-bit word
    # of the data XOR h; built once, it halves the interpreted loop. A list indexes a little
    # faster than bytes (its small ints are already objects).
    high = _HIGH
    return [high[high[index & 0xFF] ^ (index >> 8)] for index in range(65536)]


_PAIR = _pair_table()
_LITTLE = sys.byteorder == "little"


def crc_standard(data: bytes) -> int:
    """HJ 212 附录 A CRC of a data segment (init 0xFFFF, poly 0xA001, high byte XORed)."""
    n = len(data)
    if n == 0:
        return 0xFFFF
    h = 0xFF
    body = n - 1
    if body & 1:
        h = _HIGH[h ^ data[0]]
        start = 1
    else:
        start = 0
    if body > start:
        if _LITTLE:
            pair = _PAIR
            for word in memoryview(data[start:body]).cast("H"):
                h = pair[word ^ h]
        else:  # pragma: no cover - big-endian hosts
            high = _HIGH
            for byte in data[start:body]:
                h = high[h ^ byte]
    return _FULL[h ^ data[body]]


def crc_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (init 0xFFFF, poly 0xA001 reflected, register XORed with each byte)."""
    full = _FULL
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ full[(reg ^ byte) & 0xFF]
    return reg


def crc_value(mode: CrcMode, data: bytes) -> int:
    """The 16-bit number a device in ``mode`` prints as 4 hex digits for ``data``."""
    if mode is CrcMode.STANDARD:
        return crc_standard(data)
    value = crc_modbus(data)
    if mode is CrcMode.MODBUS_LE:
        return ((value & 0xFF) << 8) | (value >> 8)
    return value


def crc_text(mode: CrcMode, data: bytes) -> bytes:
    """The 4 uppercase hex digits a device in ``mode`` appends to ``data``."""
    return b"%04X" % crc_value(mode, data)


def detect_crc(data: bytes, printed: int) -> CrcMode | None:
    """Which mode produced ``printed`` (the frame's CRC digits as a number) for ``data``."""
    if crc_standard(data) == printed:
        return CrcMode.STANDARD
    value = crc_modbus(data)
    if value == printed:
        return CrcMode.MODBUS_BE
    if ((value & 0xFF) << 8) | (value >> 8) == printed:
        return CrcMode.MODBUS_LE
    return None


STANDARD_LOW_BYTES = frozenset((0x00, 0x01, 0x40, 0x41, 0x80, 0x81, 0xC0, 0xC1))
"""The only low bytes the HJ 212 CRC can end in (STANDARDS.md §0.4)."""
