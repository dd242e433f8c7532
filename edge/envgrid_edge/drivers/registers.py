"""Modbus register decoding: 16- and 32-bit integers and IEEE floats, in either word order."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from enum import StrEnum


class DataType(StrEnum):
    """How a value is laid out in one or two 16-bit registers."""

    UINT16 = "uint16"
    INT16 = "int16"
    UINT32 = "uint32"
    INT32 = "int32"
    FLOAT32 = "float32"


class WordOrder(StrEnum):
    """Which register of a 32-bit value comes first (bytes in a register are big-endian)."""

    BIG = "big"  # high word first: ABCD, as the Modbus spec and most analysers do
    LITTLE = "little"  # low word first: CDAB, common in PLCs and some gas sensors


class RegisterKind(StrEnum):
    """Which table a register lives in (function code 3 or 4)."""

    HOLDING = "holding"
    INPUT = "input"


_FORMATS: dict[DataType, str] = {
    DataType.UINT16: "H",
    DataType.INT16: "h",
    DataType.UINT32: "I",
    DataType.INT32: "i",
    DataType.FLOAT32: "f",
}
# Significant digits worth sending: float32 carries about 7; beyond 12 is scaling noise.
_DIGITS: dict[DataType, int] = {t: 7 if t is DataType.FLOAT32 else 12 for t in DataType}


def register_count(data_type: DataType) -> int:
    """How many registers a value of ``data_type`` occupies."""
    return struct.calcsize(_FORMATS[data_type]) // 2


def decode(registers: Sequence[int], data_type: DataType, word_order: WordOrder) -> float:
    """The number held in ``registers``."""
    if len(registers) != register_count(data_type):
        raise ValueError(f"{data_type} needs {register_count(data_type)} registers")
    words = registers if word_order is WordOrder.BIG else list(reversed(registers))
    raw = b"".join(int(w).to_bytes(2, "big") for w in words)
    (value,) = struct.unpack(f">{_FORMATS[data_type]}", raw)
    return float(value)


def encode(value: float, data_type: DataType, word_order: WordOrder) -> list[int]:
    """The registers that hold ``value`` (for tests and device simulators)."""
    fmt = _FORMATS[data_type]
    raw = struct.pack(f">{fmt}", value if data_type is DataType.FLOAT32 else int(value))
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return words if word_order is WordOrder.BIG else list(reversed(words))


def tidy(value: float, data_type: DataType, decimals: int | None = None) -> float:
    """Round away digits the register never held (or to ``decimals`` if given)."""
    if decimals is not None:
        return round(value, decimals)
    return float(f"{value:.{_DIGITS[data_type]}g}")
