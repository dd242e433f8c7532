"""Canonical metric names, their units and their HJ 212 factor codes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Medium(StrEnum):
    """What a metric is measured in."""

    WATER = "water"
    AIR = "air"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Metric:
    """One measurable quantity as it travels in a reading's ``values``."""

    name: str
    unit: str
    medium: Medium
    label_zh: str
    label_en: str
    hj212_2017: str | None = None
    hj212_2005: str | None = None


# HJ 212-2017 Appendix B codes (STANDARDS.md §1.8). Air PM units are µg/m³ as real
# devices send them, not the ng/m³ the standard's table prints.
_CATALOGUE: tuple[Metric, ...] = (
    Metric("flow", "L/s", Medium.WATER, "污水流量", "wastewater flow", "w00000", "B01"),
    Metric("ph", "1", Medium.WATER, "pH值", "pH", "w01001", "001"),
    Metric("do", "mg/L", Medium.WATER, "溶解氧", "dissolved oxygen", "w01009"),
    Metric("water_temp", "°C", Medium.WATER, "水温", "water temperature", "w01010"),
    Metric("ss", "mg/L", Medium.WATER, "悬浮物", "suspended solids", "w01012", "003"),
    Metric("conductivity", "µS/cm", Medium.WATER, "电导率", "conductivity", "w01014"),
    Metric("bod5", "mg/L", Medium.WATER, "五日生化需氧量", "BOD5", "w01017", "010"),
    Metric("cod", "mg/L", Medium.WATER, "化学需氧量", "COD", "w01018", "011"),
    Metric("codmn", "mg/L", Medium.WATER, "高锰酸盐指数", "permanganate index", "w01019"),
    Metric("toc", "mg/L", Medium.WATER, "总有机碳", "TOC", "w01020", "015"),
    Metric("tn", "mg/L", Medium.WATER, "总氮", "total nitrogen", "w21001", "065"),
    Metric("nh3n", "mg/L", Medium.WATER, "氨氮", "ammonia nitrogen", "w21003", "060"),
    Metric("tp", "mg/L", Medium.WATER, "总磷", "total phosphorus", "w21011", "101"),
    Metric("turbidity", "NTU", Medium.WATER, "浊度", "turbidity"),
    Metric("air_temp", "°C", Medium.AIR, "温度", "air temperature", "a01001"),
    Metric("humidity", "%", Medium.AIR, "湿度", "relative humidity", "a01002"),
    Metric("nh3", "mg/m³", Medium.AIR, "氨", "ammonia", "a21001", "10"),
    Metric("h2s", "mg/m³", Medium.AIR, "硫化氢", "hydrogen sulphide", "a21028", "05"),
    Metric("so2", "µg/m³", Medium.AIR, "二氧化硫", "sulphur dioxide", "a21026", "02"),
    Metric("no2", "µg/m³", Medium.AIR, "二氧化氮", "nitrogen dioxide", "a21004"),
    Metric("co", "mg/m³", Medium.AIR, "一氧化碳", "carbon monoxide", "a21005", "04"),
    Metric("o3", "µg/m³", Medium.AIR, "臭氧", "ozone"),
    Metric("pm25", "µg/m³", Medium.AIR, "细颗粒物", "PM2.5", "a34004"),
    Metric("pm10", "µg/m³", Medium.AIR, "可吸入颗粒物", "PM10", "a34002"),
    Metric("tsp", "µg/m³", Medium.AIR, "总悬浮颗粒物", "TSP", "a34001"),
    # Stack (flue-gas) monitoring, HJ 212 表 B.2: what an enterprise's CEMS reports.
    Metric("nox", "mg/m³", Medium.AIR, "氮氧化物", "nitrogen oxides", "a21002", "03"),
    Metric("o2", "%", Medium.AIR, "氧气含量", "oxygen (flue gas)", "a19001", "S01"),
    Metric("dust", "mg/m³", Medium.AIR, "烟尘", "stack dust", "a34013", "01"),
    Metric("flue_flow", "m³/s", Medium.AIR, "废气流量", "flue-gas flow", "a00000", "B02"),
    Metric("fill_level", "%", Medium.OTHER, "满溢度", "bin fill level"),
)

METRICS: dict[str, Metric] = {m.name: m for m in _CATALOGUE}
BY_HJ212_CODE: dict[str, Metric] = {
    code: m for m in _CATALOGUE for code in (m.hj212_2017, m.hj212_2005) if code
}
