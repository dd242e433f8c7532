"""A checked census list applied to the registry: rows matched, placed, linked and upserted.

A site is matched by its census id when the row has one, else by township and name. Every row
stands alone: a bad one is reported and left out, the others go in. Re-importing the same list
changes nothing. A column the list does not have leaves that field of a matched site as it is.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import ValidationError

from envgrid_cloud.registry.census import CensusFile, CensusRow, Column, Rejection
from envgrid_cloud.registry.places import Grid, PlaceProblem
from envgrid_cloud.registry.store import replace_downstream, upsert_cells, upsert_sites
from envgrid_common.messages import ID_PATTERN
from envgrid_common.registry import GridCell, Site, SiteCategory, downstream_cycle

# The import reads the registry once and writes from that picture: other writers wait.
_LOCK = "LOCK TABLE grid_cells, sites, site_downstream IN SHARE ROW EXCLUSIVE MODE"
_SITES = """
SELECT s.id, s.name, s.category, s.cell_id, s.lon, s.lat, s.production_process,
       s.treatment_requirements, s.target_class, s.water_type, s.census_ref,
       ARRAY(SELECT d.downstream_id FROM site_downstream d WHERE d.site_id = s.id
             ORDER BY d.downstream_id) AS downstream
FROM sites s ORDER BY s.id
"""
Progress = Callable[[int, int], None]


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


@dataclass(slots=True)
class _Plan:
    row: CensusRow
    township_id: str
    cell: GridCell
    existing: Site | None
    site_id: str
    downstream: tuple[str, ...] = ()


def import_census(
    conn: psycopg.Connection[Any],
    census: CensusFile,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Upsert the good rows of ``census`` in one transaction (rolled back in a dry run)."""
    report = ImportReport(
        dry_run=dry_run,
        rows=len(census.rows) + len(census.rejected),
        rejected=list(census.rejected),
        warnings=list(census.warnings),
    )
    with conn.transaction(force_rollback=dry_run):
        conn.execute(_LOCK)
        grid = Grid.load(conn)
        sites = _load_sites(conn)
        plans = _plan(census.rows, grid, sites, report)
        if Column.DOWNSTREAM in census.columns:
            plans = _link(plans, sites, grid, report)
        _store(conn, plans, grid, census.columns, report, progress)
    report.rejected.sort(key=lambda r: r.line)
    return report


def _load_sites(conn: psycopg.Connection[Any]) -> dict[str, Site]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_SITES).fetchall()
    # Stored rows are taken as they are: a site the API wrote is not re-judged here.
    return {
        r["id"]: Site.model_construct(**{**r, "downstream": tuple(r["downstream"])}) for r in rows
    }


def _new_id(row: CensusRow, township_id: str, taken: set[str]) -> str:
    ref = row.census_ref
    if ref and re.fullmatch(ID_PATTERN, ref) and ref not in taken:
        return ref
    digest = hashlib.sha1(f"{township_id}/{ref or row.name}".encode()).hexdigest()
    for length in (10, 16, 40):
        if f"site-{digest[:length]}" not in taken:
            return f"site-{digest[:length]}"
    raise ValueError(f"no free id for {row.name!r}")  # sha1 clashes: never


def _plan(
    rows: list[CensusRow], grid: Grid, sites: dict[str, Site], report: ImportReport
) -> list[_Plan]:
    """Each row placed in the grid, checked for duplicates and matched to a stored site."""
    by_ref = {s.census_ref: s for s in sites.values() if s.census_ref}
    by_name: defaultdict[tuple[str | None, str], list[Site]] = defaultdict(list)
    for site in sites.values():
        by_name[(grid.township_of(site.cell_id), site.name)].append(site)
    first_line: dict[tuple[str, ...], int] = {}
    claimed: set[str] = set()
    taken = set(sites)
    plans: list[_Plan] = []
    for row in rows:
        try:
            cell = grid.place(row.township, row.village, row.group)
        except PlaceProblem as exc:
            report.rejected.append(Rejection(row.line, str(exc), _names(row)))
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
        plans.append(_Plan(row, township_id, cell, existing, site_id))
    return plans


def _names(row: CensusRow) -> tuple[str, ...]:
    return tuple(n for n in (row.name, row.census_ref) if n)


def _link(
    plans: list[_Plan], sites: dict[str, Site], grid: Grid, report: ImportReport
) -> list[_Plan]:
    """Resolve each row's downstream names to sites; drop rows that cannot be linked."""
    towns = {s.id: grid.township_of(s.cell_id) for s in sites.values()}
    live = list(plans)
    while True:
        dropped = _resolve(live, sites, towns, report)
        if not dropped:
            dropped = _break_circle(live, sites, report)
        if not dropped:
            return live
        live = [p for p in live if p not in dropped]


def _resolve(
    live: list[_Plan], sites: dict[str, Site], towns: dict[str, str | None], report: ImportReport
) -> list[_Plan]:
    """Resolve references against live rows and stored sites; the rows that failed."""
    rejected_lines = {name: r.line for r in report.rejected for name in r.names}
    dropped: list[_Plan] = []
    for plan in live:
        ids: list[str] = []
        for text in plan.row.downstream:
            try:
                ids.append(_target(plan, text, live, sites, towns, rejected_lines))
            except ValueError as exc:
                report.rejected.append(Rejection(plan.row.line, str(exc), _names(plan.row)))
                dropped.append(plan)
                break
        plan.downstream = tuple(sorted(set(ids)))
    return dropped


def _target(
    plan: _Plan,
    text: str,
    live: list[_Plan],
    sites: dict[str, Site],
    towns: dict[str, str | None],
    rejected_lines: dict[str, int],
) -> str:
    """The site id a downstream reference names: census id, name (same township first) or id."""

    def nearest(found: list[tuple[str | None, str]]) -> list[str]:
        near = [ident for town, ident in found if town == plan.township_id]
        return near or [ident for _, ident in found]

    for match in (
        [p.site_id for p in live if p.row.census_ref == text],
        [s.id for s in sites.values() if s.census_ref == text],
        nearest([(p.township_id, p.site_id) for p in live if p.row.name == text]),
        nearest([(towns[s.id], s.id) for s in sites.values() if s.name == text]),
        [text] if text in sites or any(p.site_id == text for p in live) else [],
    ):
        found = sorted(set(match))
        if len(found) > 1:
            listed = ", ".join(found)
            raise ValueError(
                f"downstream {text!r} names several sites ({listed}); use its census id"
            )
        if found:
            if found[0] == plan.site_id:
                raise ValueError("a site cannot be downstream of itself")
            return found[0]
    if text in rejected_lines:
        raise ValueError(
            f"downstream site {text!r} is on line {rejected_lines[text]}, which was rejected"
        )
    raise ValueError(f"downstream site {text!r} is neither in this file nor registered")


def _break_circle(live: list[_Plan], sites: dict[str, Site], report: ImportReport) -> list[_Plan]:
    """The row that closes a circle of downstream links, if any (the last such in the file)."""
    in_file = {p.site_id: p for p in live}
    links: dict[str, tuple[str, ...]] = {p.site_id: p.downstream for p in live}
    for site in sites.values():
        links.setdefault(site.id, site.downstream)
    cycle = downstream_cycle(links)
    rows = [in_file[s] for s in cycle or () if s in in_file]
    if not rows:
        return []  # none, or one already stored (the API refuses those): not this file's doing
    culprit = max(rows, key=lambda p: p.row.line)
    # Told from the rejected row on, by the names a user knows.
    loop = (cycle or [])[:-1]
    start = loop.index(culprit.site_id)
    loop = [*loop[start:], *loop[:start], culprit.site_id]
    circle = " → ".join(in_file[s].row.name if s in in_file else sites[s].name for s in loop)
    report.rejected.append(
        Rejection(
            culprit.row.line,
            f"downstream links would make water flow in a circle: {circle}",
            _names(culprit.row),
        )
    )
    return [culprit]


def _merged(plan: _Plan, grid: Grid, columns: frozenset[Column]) -> Site:
    """The site as the row describes it, keeping what the list has no column for."""
    row, old = plan.row, plan.existing

    def given(column: Column) -> bool:
        return old is None or column in columns

    cell_id = plan.cell.id
    if old is not None and plan.cell.id in grid.lineage(old.cell_id):
        cell_id = old.cell_id  # the list names the village; the registry knows the group
    water = row.category is SiteCategory.WATER_BODY
    lon, lat = (
        (row.lon, row.lat) if given(Column.LON) else (old.lon, old.lat) if old else (None, None)
    )
    return Site(
        id=plan.site_id,
        name=row.name,
        category=row.category,
        cell_id=cell_id,
        lon=lon,
        lat=lat,
        production_process=(
            row.production_process if given(Column.PROCESS) else _old(old, "production_process")
        ),
        treatment_requirements=(
            row.treatment_requirements
            if given(Column.TREATMENT)
            else _old(old, "treatment_requirements")
        ),
        target_class=(
            (row.target_class if given(Column.TARGET_CLASS) else _old(old, "target_class"))
            if water
            else None
        ),
        water_type=(
            (row.water_type or (None if given(Column.WATER_TYPE) else _old(old, "water_type")))
            if water
            else None
        ),
        downstream=plan.downstream if given(Column.DOWNSTREAM) else _old(old, "downstream"),
        census_ref=row.census_ref or _old(old, "census_ref"),
    )


def _old(old: Site | None, name: str) -> Any:
    return getattr(old, name) if old is not None else None


def _store(
    conn: psycopg.Connection[Any],
    plans: list[_Plan],
    grid: Grid,
    columns: frozenset[Column],
    report: ImportReport,
    progress: Progress | None,
) -> None:
    """Write the sites (each row in a savepoint of its own), then their downstream links."""
    linked: list[tuple[int, Site]] = []
    failed: set[str] = set()
    for done, plan in enumerate(plans, start=1):
        if progress is not None:
            progress(done, len(plans))
        site = _store_row(conn, plan, grid, columns, report)
        if site is None:
            failed.add(plan.site_id)
        elif Column.DOWNSTREAM in columns and (
            plan.existing is None or plan.existing.downstream != site.downstream
        ):
            linked.append((plan.row.line, site))
    links: list[Site] = []
    for line, site in linked:
        lost = [d for d in site.downstream if d in failed]
        if lost:
            # Its own row went in; only the links to rows that could not be stored wait.
            report.warnings.append(
                f"line {line}: downstream links not stored: {', '.join(lost)} was not imported"
            )
        else:
            links.append(site)
    if links:
        with conn.cursor() as cur:
            replace_downstream(cur, links)


def _store_row(
    conn: psycopg.Connection[Any],
    plan: _Plan,
    grid: Grid,
    columns: frozenset[Column],
    report: ImportReport,
) -> Site | None:
    """One row's cells and site written, and counted; None if it was rejected instead."""
    try:
        site = _merged(plan, grid, columns)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        report.rejected.append(Rejection(plan.row.line, reason, _names(plan.row)))
        return None
    new_cells = grid.needs(plan.cell.id)
    old = plan.existing
    same = old is not None and _comparable(site) == _comparable(old)
    try:
        with conn.transaction(), conn.cursor() as cur:
            upsert_cells(cur, new_cells)
            if not same:
                upsert_sites(cur, [site])
    except psycopg.errors.IntegrityError as exc:
        reason = f"could not be stored: {exc.diag.message_primary or exc}"
        report.rejected.append(Rejection(plan.row.line, reason, _names(plan.row)))
        return None
    for cell in new_cells:
        grid.created(cell)
        report.created_cells.append((plan.row.line, cell))
    outcome = Outcome(plan.row.line, site.id, site.name)
    if old is None:
        report.imported.append(outcome)
    elif same:
        report.unchanged.append(outcome)
    else:
        report.updated.append(outcome)
    return site


def _comparable(site: Site) -> dict[str, object]:
    # Plain values: a stored site holds its enums as text, a new one as StrEnum members.
    return {
        name: sorted(value) if isinstance(value, tuple) else value
        for name in Site.model_fields
        for value in [getattr(site, name)]
    }
