"""The HJ 212 CRC, CRC-16/MODBUS in both byte orders, and the detector."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from envgrid_common.hj212 import CrcMode, crc_modbus, crc_standard, crc_text, detect_crc
from envgrid_common.hj212.crc import STANDARD_LOW_BYTES

EXAMPLE = (
    b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&"
)


def _reference_standard(data: bytes) -> int:
    # 附录 A step by step, bit by bit: the table-driven code must agree with it.
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
    return reg


def _reference_modbus(data: bytes) -> int:
    reg = 0xFFFF
    for byte in data:
        reg ^= byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
    return reg


def test_the_standards_worked_example_is_1c80_not_the_texts_1c08() -> None:
    assert crc_standard(EXAMPLE) == 0x1C80
    assert crc_text(CrcMode.STANDARD, EXAMPLE) == b"1C80"


def test_modbus_of_the_example_and_its_two_byte_orders() -> None:
    assert crc_modbus(EXAMPLE) == 0x0759
    assert crc_text(CrcMode.MODBUS_BE, EXAMPLE) == b"0759"
    assert crc_text(CrcMode.MODBUS_LE, EXAMPLE) == b"5907"


def test_modbus_check_value_of_123456789() -> None:
    assert crc_modbus(b"123456789") == 0x4B37  # the catalogued CRC-16/MODBUS check value


@given(st.binary(max_size=300))
def test_table_driven_crcs_equal_the_bitwise_definitions(data: bytes) -> None:
    assert crc_standard(data) == _reference_standard(data)
    assert crc_modbus(data) == _reference_modbus(data)


@given(st.binary(min_size=1, max_size=200))
def test_the_standard_crc_ends_in_one_of_eight_low_bytes(data: bytes) -> None:
    assert crc_standard(data) & 0xFF in STANDARD_LOW_BYTES


@given(st.binary(min_size=1, max_size=200), st.sampled_from(list(CrcMode)))
def test_the_detector_names_the_mode_that_made_the_digits(data: bytes, mode: CrcMode) -> None:
    printed = int(crc_text(mode, data), 16)
    detected = detect_crc(data, printed)
    assert detected is not None
    # Two modes can print the same digits by chance; then both are right for this frame.
    assert int(crc_text(detected, data), 16) == printed


def test_the_detector_refuses_digits_no_mode_makes() -> None:
    wrong = (crc_standard(EXAMPLE) + 1) & 0xFFFF
    assert wrong not in (crc_modbus(EXAMPLE), 0x5907)
    assert detect_crc(EXAMPLE, wrong) is None
