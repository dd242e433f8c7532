"""An import report in words: counts, created cells, every rejected row with its reason."""

from __future__ import annotations

from envgrid_cloud.registry.census_import import ImportReport


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
