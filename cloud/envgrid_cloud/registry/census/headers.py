"""A census list's header row: found below any title lines, its columns known by their aliases."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from enum import StrEnum

# A header may sit below a title, a date line and notes; it is looked for this far down.
HEADER_SEARCH_ROWS = 20


class Column(StrEnum):
    """What a column of the list gives."""

    SEQ = "seq"
    NAME = "name"
    CATEGORY = "category"
    TOWNSHIP = "township"
    VILLAGE = "village"
    GROUP = "group"
    LON = "lon"
    LAT = "lat"
    PROCESS = "production_process"
    TREATMENT = "treatment_requirements"
    CENSUS_REF = "census_ref"
    TARGET_CLASS = "target_class"
    WATER_TYPE = "water_type"
    DOWNSTREAM = "downstream"


# The headers each column is known by; the first is the one messages use.
HEADER_ALIASES: dict[Column, tuple[str, ...]] = {
    Column.SEQ: ("序号", "no", "no."),
    Column.NAME: ("名称", "单位名称", "企业名称", "污染源名称", "点位名称", "站点名称", "name"),
    Column.CATEGORY: ("类别", "污染源类别", "类型", "行业类别", "污染源类型", "category"),
    Column.TOWNSHIP: ("乡镇", "所属乡镇", "乡镇名称", "乡镇街道", "township"),
    Column.VILLAGE: ("村", "行政村", "所属村", "村名", "所属行政村", "村社区", "village"),
    Column.GROUP: ("村民小组", "组", "所属村民小组", "group"),
    Column.LON: ("经度", "lon", "longitude", "lng"),
    Column.LAT: ("纬度", "lat", "latitude"),
    Column.PROCESS: ("生产工艺", "工艺", "主要生产工艺", "production_process"),
    Column.TREATMENT: (
        "治理要求",
        "污染治理要求",
        "治理措施",
        "污染治理措施",
        "treatment_requirements",
    ),
    Column.CENSUS_REF: ("编号", "统一社会信用代码", "污染源编码", "普查编码", "census_ref"),
    Column.TARGET_CLASS: ("水质目标", "目标水质", "水质目标类别", "target_class"),
    Column.WATER_TYPE: ("水体类型", "water_type"),
    Column.DOWNSTREAM: ("下游", "下游断面", "下游水体", "downstream"),
}
REQUIRED = (Column.NAME, Column.CATEGORY, Column.TOWNSHIP)
_BRACKETS = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")
_BLANKS = re.compile(r"[\s\u3000\ufeff*＊:：]+")


def _header_key(text: str) -> str:
    return _BLANKS.sub("", _BRACKETS.sub("", text)).lower()


_COLUMN_BY_HEADER: dict[str, Column] = {
    _header_key(alias): column for column, aliases in HEADER_ALIASES.items() for alias in aliases
}


def label(column: Column) -> str:
    """The name a message gives a column (``经度``)."""
    return HEADER_ALIASES[column][0]


class CensusUnreadable(Exception):
    """The file as a whole cannot be read as a census list (not a row's problem)."""


def cell_text(value: object) -> str:
    """A cell's value as the text a person sees in it, trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        # A code typed into a number cell comes back as 3711220001.0.
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).replace("\u3000", " ").replace("\xa0", " ").strip()


def _map_header(cells: Sequence[object]) -> tuple[dict[int, Column], list[str]]:
    columns: dict[int, Column] = {}
    unknown: list[str] = []
    for index, cell in enumerate(cells):
        text = cell_text(cell)
        column = _COLUMN_BY_HEADER.get(_header_key(text))
        if column is not None:
            columns[index] = column
        elif text:
            unknown.append(text)
    return columns, unknown


def find_header(
    rows: Iterator[tuple[int, Sequence[object]]],
) -> tuple[int, dict[int, Column], list[str]]:
    """The header's line, its columns by index and remarks on it; ``rows`` is left below it."""
    for line, cells in rows:
        columns, unknown = _map_header(cells)
        if Column.NAME in columns.values() and len(columns) >= 2:
            break
        if line >= HEADER_SEARCH_ROWS:
            break
    else:
        raise CensusUnreadable(_NO_HEADER)
    if Column.NAME not in columns.values() or len(columns) < 2:
        raise CensusUnreadable(_NO_HEADER)
    warnings: list[str] = []
    seen: dict[Column, int] = {}
    for index, column in sorted(columns.items()):
        if column in seen:
            warnings.append(
                f"columns {index + 1} and {seen[column] + 1} both give {label(column)};"
                f" column {seen[column] + 1} is used"
            )
            del columns[index]
        else:
            seen[column] = index
    missing = [label(c) for c in REQUIRED if c not in seen]
    if missing:
        raise CensusUnreadable(
            f"the header (line {line}) has no {' or '.join(missing)} column; {_expected(REQUIRED)}"
        )
    if unknown:
        warnings.append(f"ignored columns: {', '.join(unknown)}")
    return line, columns, warnings


def _expected(columns: Iterable[Column]) -> str:
    return "expected " + "; ".join(" / ".join(HEADER_ALIASES[c][:4]) for c in columns)


_NO_HEADER = f"no header row in the first {HEADER_SEARCH_ROWS} lines; {_expected(REQUIRED)}"
