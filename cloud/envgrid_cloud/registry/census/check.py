"""One row of a census list checked and converted, or every reason it cannot be imported."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from envgrid_cloud.registry.census.headers import Column, label
from envgrid_cloud.registry.census.values import (
    WATER_TYPE_OF_CATEGORY,
    parse_category,
    parse_degrees,
    parse_references,
    parse_water_class,
    parse_water_type,
)
from envgrid_common.registry import SiteCategory, WaterClass, WaterType

MAX_NAME = 200
MAX_TEXT = 4000
MAX_REF = 100
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that is not imported, and why."""

    line: int
    reason: str
    # The row's name and census id, so a row naming it as downstream can say it was rejected.
    names: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class CensusRow:
    """One checked row of the list; places are still names, matched against the grid later."""

    line: int
    name: str
    category: SiteCategory
    township: str
    village: str | None = None
    group: str | None = None
    lon: float | None = None
    lat: float | None = None
    production_process: str | None = None
    treatment_requirements: str | None = None
    census_ref: str | None = None
    target_class: WaterClass | None = None
    water_type: WaterType | None = None
    downstream: tuple[str, ...] = ()


def row_names(row: CensusRow) -> tuple[str, ...]:
    """The name and census id a downstream reference may use for ``row``."""
    return tuple(n for n in (row.name, row.census_ref) if n)


def check_row(line: int, values: dict[Column, str]) -> CensusRow | Rejection:
    """One row's values checked and converted, or every reason it cannot be imported."""
    problems: list[str] = []

    def parsed(column: Column, parse: Callable[[str], T]) -> T | None:
        text = values.get(column, "")
        if not text:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            problems.append(str(exc))
            return None

    name = values.get(Column.NAME, "")
    township = values.get(Column.TOWNSHIP, "")
    for column, text in ((Column.NAME, name), (Column.TOWNSHIP, township)):
        if not text:
            problems.append(f"{column.value} ({label(column)}) is empty")
    if len(name) > MAX_NAME:
        problems.append(f"name is longer than {MAX_NAME} characters")
    category = parsed(Column.CATEGORY, parse_category)
    if not values.get(Column.CATEGORY):
        problems.append(f"category ({label(Column.CATEGORY)}) is empty")
    lon = parsed(Column.LON, lambda t: parse_degrees(t, "longitude", 180))
    lat = parsed(Column.LAT, lambda t: parse_degrees(t, "latitude", 90))
    _check_coordinates(values, lon, lat, problems)
    target_class = parsed(Column.TARGET_CLASS, parse_water_class)
    water_type = parsed(Column.WATER_TYPE, parse_water_type)
    if category is not None and category is not SiteCategory.WATER_BODY:
        if target_class or water_type:
            problems.append(
                f"{label(Column.TARGET_CLASS)}/{label(Column.WATER_TYPE)} is given, but only a"
                f" water body has one (this is a {values[Column.CATEGORY]})"
            )
    elif category is SiteCategory.WATER_BODY and water_type is None:
        water_type = WATER_TYPE_OF_CATEGORY.get(values[Column.CATEGORY].strip())
    census_ref = values.get(Column.CENSUS_REF) or None
    if census_ref and len(census_ref) > MAX_REF:
        problems.append(f"the census id is longer than {MAX_REF} characters")
    for column in (Column.PROCESS, Column.TREATMENT):
        if len(values.get(column, "")) > MAX_TEXT:
            problems.append(f"{label(column)} is longer than {MAX_TEXT} characters")
    if problems or category is None:
        names = tuple(n for n in (name, values.get(Column.CENSUS_REF, "")) if n)
        return Rejection(line, "; ".join(problems), names)
    return CensusRow(
        line=line,
        name=name,
        category=category,
        township=township,
        village=values.get(Column.VILLAGE) or None,
        group=values.get(Column.GROUP) or None,
        lon=lon,
        lat=lat,
        production_process=values.get(Column.PROCESS) or None,
        treatment_requirements=values.get(Column.TREATMENT) or None,
        census_ref=census_ref,
        target_class=target_class,
        water_type=water_type,
        downstream=parse_references(values.get(Column.DOWNSTREAM, "")),
    )


def _check_coordinates(
    values: dict[Column, str], lon: float | None, lat: float | None, problems: list[str]
) -> None:
    lon_text, lat_text = values.get(Column.LON, ""), values.get(Column.LAT, "")
    if bool(lon_text) != bool(lat_text):
        given, missing = ("longitude", "latitude") if lon_text else ("latitude", "longitude")
        problems.append(f"{missing} is missing ({given} is given)")
    if lon is not None and lat is None and lat_text:
        try:
            parse_degrees(lat_text, "latitude", 180)
        except ValueError:
            return
        if -90 <= lon <= 90:
            problems.append("longitude and latitude may be swapped")
