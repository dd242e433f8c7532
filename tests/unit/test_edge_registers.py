"""Modbus register decoding, scaling and unit conversion."""

from __future__ import annotations

import math

import pytest

from envgrid_common.messages import DataFlag
from envgrid_edge.drivers.modbus import MetricPlan, MetricRegister
from envgrid_edge.drivers.registers import DataType, WordOrder, decode, encode, register_count, tidy
from envgrid_edge.drivers.units import conversion, normalise

BIG, LITTLE = WordOrder.BIG, WordOrder.LITTLE


@pytest.mark.parametrize(
    ("registers", "data_type", "order", "expected"),
    [
        ([0x1234], DataType.UINT16, BIG, 0x1234),
        ([0xFFFF], DataType.UINT16, BIG, 65535),
        ([0xFFFF], DataType.INT16, BIG, -1),
        ([0x8000], DataType.INT16, BIG, -32768),
        ([0x0001, 0x0002], DataType.UINT32, BIG, 0x00010002),
        ([0x0002, 0x0001], DataType.UINT32, LITTLE, 0x00010002),
        ([0xFFFF, 0xFFFE], DataType.INT32, BIG, -2),
        ([0xFFFE, 0xFFFF], DataType.INT32, LITTLE, -2),
        ([0x420C, 0xCCCD], DataType.FLOAT32, BIG, 35.2),  # ABCD
        ([0xCCCD, 0x420C], DataType.FLOAT32, LITTLE, 35.2),  # CDAB
        ([0xC2F6, 0xE979], DataType.FLOAT32, BIG, -123.456),
    ],
)
def test_decode(
    registers: list[int], data_type: DataType, order: WordOrder, expected: float
) -> None:
    value = decode(registers, data_type, order)
    assert tidy(value, data_type) == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize("data_type", list(DataType))
@pytest.mark.parametrize("order", list(WordOrder))
def test_encode_and_decode_agree(data_type: DataType, order: WordOrder) -> None:
    value = {DataType.UINT16: 512, DataType.INT16: -7, DataType.FLOAT32: 0.125}.get(
        data_type, -70000 if data_type is DataType.INT32 else 70000
    )
    registers = encode(value, data_type, order)
    assert len(registers) == register_count(data_type)
    assert decode(registers, data_type, order) == value


def test_wrong_register_count_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 2 registers"):
        decode([1], DataType.FLOAT32, BIG)


def test_float32_noise_is_rounded_away() -> None:
    raw = decode(encode(35.2, DataType.FLOAT32, BIG), DataType.FLOAT32, BIG)
    assert raw != 35.2  # float32 cannot hold 35.2 exactly
    assert tidy(raw, DataType.FLOAT32) == 35.2
    assert tidy(352 * 0.1, DataType.UINT16) == 35.2
    assert tidy(1.23456, DataType.UINT16, decimals=2) == 1.23


@pytest.mark.parametrize(
    ("unit", "canonical", "value", "expected"),
    [
        ("mg/L", "mg/L", 3.0, 3.0),
        ("µg/L", "mg/L", 350.0, 0.35),
        ("ug/l", "mg/L", 350.0, 0.35),
        ("mg/m3", "µg/m³", 0.075, 75.0),
        ("µg/m³", "mg/m³", 60.0, 0.06),
        ("mS/cm", "µS/cm", 1.2, 1200.0),
        ("°F", "°C", 212.0, 100.0),
        ("K", "°C", 273.15, 0.0),
        ("m³/h", "L/s", 36.0, 10.0),
        ("L/min", "L/s", 120.0, 2.0),
        ("pH", "1", 7.1, 7.1),
    ],
)
def test_unit_conversions(unit: str, canonical: str, value: float, expected: float) -> None:
    converted = conversion(unit, canonical)
    assert converted is not None
    factor, offset = converted
    assert value * factor + offset == pytest.approx(expected)


@pytest.mark.parametrize(("unit", "canonical"), [("ppm", "mg/m³"), ("mg/L", "µg/m³"), ("%", "L/s")])
def test_unconvertible_units(unit: str, canonical: str) -> None:
    assert conversion(unit, canonical) is None


def test_unit_aliases() -> None:
    assert normalise(" ug/m3 ") == "µg/m³"
    assert normalise("μg/m³") == "µg/m³"  # Greek mu becomes the micro sign of the catalogue
    assert normalise("℃") == "°C"
    assert normalise("furlongs") == "furlongs"


def test_a_metric_plan_scales_then_converts() -> None:
    # Flow in 0.01 m³/h counts, low word first: 0x0001_86A0 = 100000 → 1000 m³/h → 277.778 L/s.
    spec = MetricRegister(
        address=100, type=DataType.UINT32, word_order=LITTLE, scale=0.01, unit="m3/h", decimals=3
    )
    plan = MetricPlan("flow", spec, BIG)
    assert plan.count == 2
    assert plan.value([0x86A0, 0x0001]) == 277.778
    offset = MetricRegister(address=0, type=DataType.INT16, scale=0.1, offset=-40.0, unit="°C")
    assert MetricPlan("water_temp", offset, BIG).value([650]) == 25.0
    assert math.isnan(
        MetricPlan("cod", MetricRegister(address=0, type=DataType.FLOAT32, unit="mg/L"), BIG).value(
            [0x7FC0, 0x0000]
        )
    )


def test_status_codes_map_to_hj212_flags() -> None:
    spec = MetricRegister.model_validate(
        {"address": 0, "unit": "mg/L", "status": {"address": 20, "codes": {0: "N", 2: "C"}}}
    )
    assert spec.status is not None
    assert spec.status.codes == {0: DataFlag.NORMAL, 2: DataFlag.CALIBRATION}
    assert spec.status.otherwise is DataFlag.FAULT
