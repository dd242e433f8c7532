"""Pollutant codes of 2017 (HJ 525/524) and 2005 mapped to canonical metrics and units."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from envgrid_common.metrics import METRICS


@dataclass(frozen=True, slots=True)
class PollutantCode:
    """One factor of 附录 B: its codes, the unit the standard sends it in, our metric if any."""

    code_2017: str
    code_2005: str | None
    name_zh: str
    name_en: str
    unit: str
    metric: str | None = None


# STANDARDS.md §1.8 (表 B.1 water, 表 B.2 air). Units are the standard's defaults for
# concentrations; PM is µg/m³ as devices send it (the table's ng/m³ is not what is sent).
_TABLE: tuple[PollutantCode, ...] = (
    PollutantCode("w00000", "B01", "污水", "wastewater flow", "L/s", "flow"),
    PollutantCode("w01001", "001", "pH值", "pH", "1", "ph"),
    PollutantCode("w01009", None, "溶解氧", "dissolved oxygen", "mg/L", "do"),
    PollutantCode("w01010", None, "水温", "water temperature", "°C", "water_temp"),
    PollutantCode("w01012", "003", "悬浮物", "suspended solids", "mg/L", "ss"),
    PollutantCode("w01014", None, "电导率", "conductivity", "µS/cm", "conductivity"),
    PollutantCode("w01017", "010", "五日生化需氧量", "BOD5", "mg/L", "bod5"),
    PollutantCode("w01018", "011", "化学需氧量", "COD", "mg/L", "cod"),
    PollutantCode("w01019", None, "高锰酸盐指数", "permanganate index", "mg/L", "codmn"),
    PollutantCode("w01020", "015", "总有机碳", "TOC", "mg/L", "toc"),
    PollutantCode("w02003", "550", "粪大肠菌群", "faecal coliforms", "个/L"),
    PollutantCode("w21001", "065", "总氮", "total nitrogen", "mg/L", "tn"),
    PollutantCode("w21003", "060", "氨氮", "ammonia nitrogen", "mg/L", "nh3n"),
    PollutantCode("w21011", "101", "总磷", "total phosphorus", "mg/L", "tp"),
    PollutantCode("w22001", "080", "石油类", "petroleum", "mg/L"),
    PollutantCode("w23002", "110", "挥发酚", "volatile phenols", "mg/L"),
    PollutantCode("a00000", "B02", "废气", "flue-gas flow", "m³/s", "flue_flow"),
    PollutantCode("a01001", None, "温度", "air temperature", "°C", "air_temp"),
    PollutantCode("a01002", None, "湿度", "relative humidity", "%", "humidity"),
    PollutantCode("a01006", None, "气压", "air pressure", "kPa"),
    PollutantCode("a01007", None, "风速", "wind speed", "m/s"),
    PollutantCode("a01008", None, "风向", "wind direction", "°"),
    PollutantCode("a01011", "S02", "烟气流速", "flue-gas velocity", "m/s"),
    PollutantCode("a01012", "S03", "烟气温度", "flue-gas temperature", "°C"),
    PollutantCode("a01013", "S08", "烟气压力", "flue-gas pressure", "kPa"),
    PollutantCode("a01014", "S05", "烟气湿度", "flue-gas humidity", "%"),
    PollutantCode("a01017", "S04", "烟道动压", "flue dynamic pressure", "kPa"),
    PollutantCode("a19001", "S01", "氧气含量", "oxygen", "%", "o2"),
    PollutantCode("a21001", "10", "氨", "ammonia", "mg/m³", "nh3"),
    PollutantCode("a21002", "03", "氮氧化物", "nitrogen oxides", "mg/m³", "nox"),
    PollutantCode("a21003", None, "一氧化氮", "nitric oxide", "mg/m³"),
    PollutantCode("a21004", None, "二氧化氮", "nitrogen dioxide", "mg/m³", "no2"),
    PollutantCode("a21005", "04", "一氧化碳", "carbon monoxide", "mg/m³", "co"),
    PollutantCode("a21026", "02", "二氧化硫", "sulphur dioxide", "mg/m³", "so2"),
    PollutantCode("a21028", "05", "硫化氢", "hydrogen sulphide", "mg/m³", "h2s"),
    PollutantCode("a24088", None, "非甲烷总烃", "non-methane hydrocarbons", "mg/m³"),
    PollutantCode("a34001", None, "总悬浮颗粒物", "TSP", "µg/m³", "tsp"),
    PollutantCode("a34002", None, "可吸入颗粒物", "PM10", "µg/m³", "pm10"),
    PollutantCode("a34004", None, "细颗粒物", "PM2.5", "µg/m³", "pm25"),
    PollutantCode("a34013", "01", "烟尘", "stack dust", "mg/m³", "dust"),
)

CODES: dict[str, PollutantCode] = {
    code: entry for entry in _TABLE for code in (entry.code_2017, entry.code_2005) if code
}
"""Either edition's code → its factor."""

# Ambient-air stations (ST=22) report gases in µg/m³ (HJ 193), not the source table's mg/m³;
# CO stays in mg/m³. [I] from field frames (e.g. a21026-Rtd=106.4 at an ST=22 station).
AMBIENT_UNITS: dict[str, str] = {
    "a21026": "µg/m³",
    "a21004": "µg/m³",
    "a21003": "µg/m³",
    "a21002": "µg/m³",
}
AMBIENT_ST = "22"

_SCALES: dict[str, tuple[str, float]] = {
    # unit → (family, factor to the family's base unit)
    "ng/m³": ("mass/m³", 1e-6),
    "µg/m³": ("mass/m³", 1e-3),
    "ug/m3": ("mass/m³", 1e-3),
    "mg/m³": ("mass/m³", 1.0),
    "mg/m3": ("mass/m³", 1.0),
    "g/m³": ("mass/m³", 1e3),
    "µg/L": ("mass/L", 1e-3),
    "mg/L": ("mass/L", 1.0),
    "L/s": ("flow", 1.0),
    "m³/s": ("flow", 1000.0),
    "m³/h": ("flow", 1000.0 / 3600.0),
    "m³/d": ("flow", 1000.0 / 86400.0),
    "L/min": ("flow", 1.0 / 60.0),
    "Pa": ("pressure", 1e-3),
    "kPa": ("pressure", 1.0),
}


def scale(from_unit: str, to_unit: str) -> float | None:
    """The factor taking a value in ``from_unit`` to ``to_unit``; None if they do not convert."""
    if from_unit == to_unit:
        return 1.0
    source, target = _SCALES.get(from_unit), _SCALES.get(to_unit)
    if source is None or target is None or source[0] != target[0]:
        return None
    return source[1] / target[1]


def unit_sent(
    code: str, *, st: str | None = None, overrides: Mapping[str, str] | None = None
) -> str | None:
    """The unit a device sends ``code`` in: its override, else the station kind's, else 附录 B's."""
    if overrides and code in overrides:
        return overrides[code]
    entry = CODES.get(code)
    if entry is None:
        return None
    if st == AMBIENT_ST and entry.code_2017 in AMBIENT_UNITS:
        return AMBIENT_UNITS[entry.code_2017]
    return entry.unit


def to_metric(
    code: str,
    value: float,
    *,
    st: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> tuple[str, float] | None:
    """``(metric, value in the metric's unit)`` for a factor value; None without a metric.

    ``overrides`` maps a code (either edition) to the unit a device really sends it in,
    e.g. ``{"a34004": "mg/m³"}`` for a device that sends PM in mg/m³.
    """
    entry = CODES.get(code)
    if entry is None or entry.metric is None:
        return None
    sent = unit_sent(code, st=st, overrides=overrides)
    factor = scale(sent or entry.unit, METRICS[entry.metric].unit)
    if factor is None:
        return None
    return entry.metric, value * factor
