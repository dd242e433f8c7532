"""Reading a census list (重点污染源监管清单) from CSV or XLSX into checked rows, one by one.

Line numbers are those a user sees in a spreadsheet: the Excel row number of an XLSX file,
the record number of a CSV file (its line number, unless a quoted cell holds a line break).
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from envgrid_cloud.registry.census.check import CensusRow, Rejection, check_row
from envgrid_cloud.registry.census.headers import CensusUnreadable, Column, cell_text, find_header


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


def parse_table(table: Table) -> CensusFile:
    """Find the header, then check every row below it."""
    rows = iter(table)
    header_line, columns, warnings = find_header(rows)
    census = CensusFile(header_line, frozenset(columns.values()), warnings=warnings)
    for line, cells in rows:
        values = {
            column: cell_text(cells[index])
            for index, column in columns.items()
            if index < len(cells)
        }
        if not any(v for c, v in values.items() if c is not Column.SEQ):
            continue  # blank line, or a note under the table
        outcome = check_row(line, values)
        if isinstance(outcome, Rejection):
            census.rejected.append(outcome)
        else:
            census.rows.append(outcome)
    return census
