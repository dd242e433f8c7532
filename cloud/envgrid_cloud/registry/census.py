"""Reading a census list (重点污染源监管清单) from CSV or XLSX into checked rows, one by one.

Line numbers are those a user sees in a spreadsheet: the Excel row number of an XLSX file,
the record number of a CSV file (its line number, unless a quoted cell holds a line break).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from envgrid_cloud.registry.census_values import (
    WATER_TYPE_OF_CATEGORY,
    parse_category,
    parse_degrees,
    parse_references,
    parse_water_class,
    parse_water_type,
)
from envgrid_common.registry import SiteCategory, WaterClass, WaterType

# A header may sit below a title, a date line and notes; it is looked for this far down.
HEADER_SEARCH_ROWS = 20
MAX_NAME = 200
MAX_TEXT = 4000
MAX_REF = 100
T = TypeVar("T")


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


@dataclass(slots=True)
class CensusFile:
    """What a list holds: its good rows, its rejected rows and remarks on the file."""

    header_line: int
    columns: frozenset[Column]
    rows: list[CensusRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


Table = Iterable[tuple[int, Sequence[object]]]


def read_census(path: Path, fmt: str | None = None) -> CensusFile:
    """Read and check a census list (``fmt`` csv or xlsx; by default from the file itself)."""
    kind = fmt or _format_of(path)
    try:
        if kind == "xlsx":
            return _read_xlsx(path)
        data = path.read_bytes()
    except OSError as exc:
        raise CensusUnreadable(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_table(_csv_rows(data))


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise CensusUnreadable(
            f"{path.name} is an Excel 97–2003 workbook; save it as .xlsx or CSV (UTF-8) first"
        )
    if suffix in {".xlsx", ".xlsm"}:
        return "xlsx"
    if suffix in {".csv", ".txt", ".tsv"}:
        return "csv"
    try:
        with path.open("rb") as head:
            magic = head.read(4)
    except OSError as exc:
        raise CensusUnreadable(f"cannot read {path}: {exc.strerror or exc}") from None
    return "xlsx" if magic == b"PK\x03\x04" else "csv"


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        encodings: tuple[str, ...] = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    else:
        # UTF-8 first: GB18030 would also "decode" UTF-8 bytes, into nonsense.
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CensusUnreadable("the file is not text in UTF-8 or GB18030 (nor an XLSX workbook)")


def _csv_rows(data: bytes) -> list[tuple[int, list[str]]]:
    text = _decode(data)
    head = text[:4096]
    # Excel's "Unicode text" export is tab-separated; its "CSV" export uses commas.
    delimiter = "\t" if head.count("\t") > head.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        rows.extend(enumerate(reader, start=1))
    except csv.Error as exc:
        raise CensusUnreadable(f"line {len(rows) + 1}: not valid CSV ({exc})") from None
    return rows


def _read_xlsx(path: Path) -> CensusFile:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # Not read-only: the read-only reader leaves out empty rows, which shifts row numbers.
        # A file object, so that the workbook is read whatever the file is called.
        with path.open("rb") as stream:
            book = load_workbook(stream, data_only=True)
    except (OSError, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise CensusUnreadable(f"{path.name} is not a readable XLSX workbook ({exc})") from None
    first_problem: CensusUnreadable | None = None
    for sheet in book.worksheets:
        table = enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1)
        try:
            census = parse_table(table)
        except CensusUnreadable as exc:
            first_problem = first_problem or exc
            continue
        others = [
            other.title
            for other in book.worksheets
            if other is not sheet
            and any(v is not None for row in other.iter_rows(values_only=True) for v in row)
        ]
        if others:
            census.warnings.append(
                f"read sheet {sheet.title!r}; other sheets were not read: {', '.join(others)}"
            )
        return census
    raise first_problem or CensusUnreadable(f"{path.name} has no worksheet")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        # A code typed into a number cell comes back as 3711220001.0.
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).replace("\u3000", " ").replace("\xa0", " ").strip()


def parse_table(table: Table) -> CensusFile:
    """Find the header, then check every row below it."""
    rows = iter(table)
    header_line, columns, warnings = _find_header(rows)
    census = CensusFile(header_line, frozenset(columns.values()), warnings=warnings)
    for line, cells in rows:
        values = {
            column: _text(cells[index]) for index, column in columns.items() if index < len(cells)
        }
        if not any(v for c, v in values.items() if c is not Column.SEQ):
            continue  # blank line, or a note under the table
        outcome = check_row(line, values)
        if isinstance(outcome, Rejection):
            census.rejected.append(outcome)
        else:
            census.rows.append(outcome)
    return census


def _map_header(cells: Sequence[object]) -> tuple[dict[int, Column], list[str]]:
    columns: dict[int, Column] = {}
    unknown: list[str] = []
    for index, cell in enumerate(cells):
        text = _text(cell)
        column = _COLUMN_BY_HEADER.get(_header_key(text))
        if column is not None:
            columns[index] = column
        elif text:
            unknown.append(text)
    return columns, unknown


def _find_header(
    rows: Iterator[tuple[int, Sequence[object]]],
) -> tuple[int, dict[int, Column], list[str]]:
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
