"""Each good row placed in the grid, checked for duplicates and matched to a stored site.

A site is matched by its census id when the row has one, else by township and name.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass

from envgrid_cloud.registry.census.check import CensusRow, Rejection, row_names
from envgrid_cloud.registry.census.places import Grid, PlaceProblem
from envgrid_cloud.registry.census.report import ImportReport
from envgrid_common.messages import ID_PATTERN
from envgrid_common.registry import GridCell, Site


@dataclass(slots=True)
class Plan:
    """What becomes of one good row: its cell, the stored site it matches, its site id."""

    row: CensusRow
    township_id: str
    cell: GridCell
    existing: Site | None
    site_id: str
    downstream: tuple[str, ...] = ()


def _new_id(row: CensusRow, township_id: str, taken: set[str]) -> str:
    ref = row.census_ref
    if ref and re.fullmatch(ID_PATTERN, ref) and ref not in taken:
        return ref
    digest = hashlib.sha1(f"{township_id}/{ref or row.name}".encode()).hexdigest()
    for length in (10, 16, 40):
        if f"site-{digest[:length]}" not in taken:
            return f"site-{digest[:length]}"
    raise ValueError(f"no free id for {row.name!r}")  # sha1 clashes: never


def plan_rows(
    rows: list[CensusRow], grid: Grid, sites: dict[str, Site], report: ImportReport
) -> list[Plan]:
    """Each row placed in the grid, checked for duplicates and matched to a stored site."""
    by_ref = {s.census_ref: s for s in sites.values() if s.census_ref}
    by_name: defaultdict[tuple[str | None, str], list[Site]] = defaultdict(list)
    for site in sites.values():
        by_name[(grid.township_of(site.cell_id), site.name)].append(site)
    first_line: dict[tuple[str, ...], int] = {}
    claimed: set[str] = set()
    taken = set(sites)
    plans: list[Plan] = []
    for row in rows:
        try:
            cell = grid.place(row.township, row.village, row.group)
        except PlaceProblem as exc:
            report.rejected.append(Rejection(row.line, str(exc), row_names(row)))
            continue
        township_id = grid.township_of(cell.id) or cell.id
        key = ("ref", row.census_ref) if row.census_ref else ("name", township_id, row.name)
        if key in first_line:
            same = "census id" if row.census_ref else "township and name"
            report.rejected.append(
                Rejection(row.line, f"duplicate of line {first_line[key]} (same {same})")
            )
            continue
        first_line[key] = row.line
        if row.census_ref in by_ref:
            existing: Site | None = by_ref[row.census_ref]
        else:
            # A site without a census id is the row's if township and name agree.
            candidates = [
                s
                for s in by_name.get((township_id, row.name), [])
                if s.census_ref is None and s.id not in claimed
            ]
            if len(candidates) > 1:
                ids = ", ".join(s.id for s in candidates)
                reason = f"several registered sites in {row.township} are named {row.name!r}"
                report.rejected.append(
                    Rejection(row.line, f"{reason} ({ids}); give the census id (编号)")
                )
                continue
            existing = candidates[0] if candidates else None
        site_id = existing.id if existing else _new_id(row, township_id, taken)
        claimed.add(site_id)
        taken.add(site_id)
        plans.append(Plan(row, township_id, cell, existing, site_id))
    return plans
