"""A report as a spreadsheet: CSV (UTF-8 with a BOM, so that Excel reads the Chinese) and XLSX.

Both have the same layout: a title row (what, which month, as of when, and the score's formula
with its weights), a header row in Chinese, then one row per township or village in rank
order; a village report ends with the township's total when the caller sees it whole. Rates
are percentages (XLSX: numbers formatted 0.0 %; CSV: ``80.0%``, which Excel reads as a
number); medians are in hours; an empty cell is a figure with nothing to measure.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from envgrid_cloud.assessment.report import Report
from envgrid_cloud.assessment.score import Assessed, formula
from envgrid_common.clock import to_shanghai

Kind = Literal["text", "count", "rate", "hours", "score"]
Cell = str | int | float | None

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
TOTAL_ZH = "全镇合计"


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its header, how to read it off a row, and what kind of number it is."""

    header: str
    value: Callable[[Assessed], Cell]
    kind: Kind


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600.0


def columns(report: Report) -> list[Column]:
    """The columns of ``report``'s sheet."""
    unit = "乡镇" if report.level == "township" else "村"
    return [
        Column("排名", lambda a: a.rank, "count"),
        Column(unit, lambda a: a.figures.name, "text"),
        Column("编号", lambda a: a.figures.id, "text"),
        Column("案件数", lambda a: a.figures.cases, "count"),
        Column("已签收", lambda a: a.figures.acknowledged, "count"),
        Column("应签收", lambda a: a.figures.ack_due, "count"),
        Column("按时签收", lambda a: a.figures.ack_on_time, "count"),
        Column("按时签收率", lambda a: a.rates.ack_on_time, "rate"),
        Column("签收用时中位数（小时）", lambda a: _hours(a.figures.median_ack_s), "hours"),
        Column("已销号", lambda a: a.figures.closed, "count"),
        Column("应办结", lambda a: a.figures.close_due, "count"),
        Column("按时办结", lambda a: a.figures.close_on_time, "count"),
        Column("按时办结率", lambda a: a.rates.close_on_time, "rate"),
        Column("办结用时中位数（小时）", lambda a: _hours(a.figures.median_close_s), "hours"),
        Column("超期", lambda a: a.figures.overdue, "count"),
        Column("超期率", lambda a: a.rates.overdue, "rate"),
        Column("误报", lambda a: a.figures.dismissed, "count"),
        Column("误报率", lambda a: a.rates.false_alarm, "rate"),
        Column("主动发现", lambda a: a.figures.self_found, "count"),
        Column("主动发现占比", lambda a: a.rates.self_found, "rate"),
        Column("未结", lambda a: a.figures.open, "count"),
        Column("得分", lambda a: a.score, "score"),
    ]


def title(report: Report) -> str:
    """``乡镇考评 2026年5月（截至 2026-06-02 10:00）得分 = 40×按时签收率 + …``."""
    what = "乡镇考评" if report.township is None else f"{report.township.name}各村考评"
    as_of = to_shanghai(report.generated_at).strftime("%Y-%m-%d %H:%M")
    return f"{what} {report.month.label_zh}（截至 {as_of}）  {formula(report.weights.weights)}"


def _rows(report: Report) -> list[Assessed]:
    return [*report.rows, *([report.total] if report.total else [])]


def _is_total(report: Report, index: int) -> bool:
    return report.total is not None and index == len(report.rows)


def filename(report: Report, extension: str, *, ascii_only: bool = True) -> str:
    """``assessment-2026-05.xlsx`` (township level) or ``assessment-2026-05-luxi.xlsx``; with
    ``ascii_only`` False, ``考评-2026-05-芦溪镇.xlsx``."""
    stem = "assessment" if ascii_only else "考评"
    parts = [stem, str(report.month)]
    if report.township is not None:
        parts.append(report.township.id if ascii_only else report.township.name)
    return f"{'-'.join(parts)}.{extension}"


def _csv_cell(value: Cell, kind: Kind) -> str:
    if value is None:
        return ""
    if kind == "rate":
        return f"{float(value) * 100:.1f}%"
    if kind in ("hours", "score"):
        return f"{float(value):.2f}"
    return str(value)


def to_csv(report: Report) -> bytes:
    """The report as CSV, UTF-8 with a byte-order mark."""
    cols = columns(report)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([title(report)])
    writer.writerow([c.header for c in cols])
    for i, row in enumerate(_rows(report)):
        cells = [_csv_cell(c.value(row), c.kind) for c in cols]
        if _is_total(report, i):
            cells[1] = TOTAL_ZH
        writer.writerow(cells)
    return out.getvalue().encode("utf-8-sig")


NUMBER_FORMATS: dict[Kind, str] = {
    "rate": "0.0%",
    "hours": "0.00",
    "score": "0.00",
    "count": "0",
    "text": "@",
}


def to_xlsx(report: Report) -> bytes:
    """The report as an Excel workbook of one sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    cols = columns(report)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"考评 {report.month}"
    sheet.append([title(report)])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(cols))
    sheet.cell(1, 1).font = Font(bold=True, size=12)
    sheet.cell(1, 1).alignment = Alignment(wrap_text=True, vertical="center")
    sheet.row_dimensions[1].height = 36
    sheet.append([c.header for c in cols])
    for j in range(1, len(cols) + 1):
        sheet.cell(2, j).font = Font(bold=True)
        sheet.cell(2, j).alignment = Alignment(wrap_text=True, horizontal="center")
    for i, row in enumerate(_rows(report)):
        values = [c.value(row) for c in cols]
        if _is_total(report, i):
            values[1] = TOTAL_ZH
        sheet.append(values)
        r = sheet.max_row
        for j, c in enumerate(cols, start=1):
            if values[j - 1] is not None and c.kind != "text":
                sheet.cell(r, j).number_format = NUMBER_FORMATS[c.kind]
            if _is_total(report, i):
                sheet.cell(r, j).font = Font(bold=True)
    for j, c in enumerate(cols, start=1):
        sheet.column_dimensions[get_column_letter(j)].width = 14 if c.kind == "text" else 10
    sheet.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
