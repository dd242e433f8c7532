"""What an import did, row by row, and the same in words: counts, cells made, rejected rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from envgrid_cloud.registry.census.check import Rejection
from envgrid_common.registry import GridCell


@dataclass(frozen=True, slots=True)
class Outcome:
    """A row that went in, and the site it is."""

    line: int
    site_id: str
    name: str


@dataclass(slots=True)
class ImportReport:
    """What an import did (or, in a dry run, would do), row by row."""

    dry_run: bool
    rows: int
    imported: list[Outcome] = field(default_factory=list)
    updated: list[Outcome] = field(default_factory=list)
    unchanged: list[Outcome] = field(default_factory=list)
    created_cells: list[tuple[int, GridCell]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def report_lines(report: ImportReport) -> list[str]:
    """What a person reads after an import, one line each."""
    lines: list[str] = []
    if report.dry_run:
        lines.append("dry run: nothing was written; this is what the import would do")
    lines.extend(f"warning: {w}" for w in report.warnings)
    lines.append(
        f"read {_count(report.rows, 'row')}: imported {len(report.imported)} new,"
        f" updated {len(report.updated)}, unchanged {len(report.unchanged)},"
        f" rejected {len(report.rejected)}"
    )
    for line, cell in report.created_cells:
        lines.append(
            f"created {cell.level.value} {cell.name} ({cell.id}, under {cell.parent_id})"
            f" for line {line}"
        )
    if report.rejected:
        lines.append(f"rejected {_count(len(report.rejected), 'row')}:")
        lines.extend(f"  {rejection}" for rejection in report.rejected)
    return lines
