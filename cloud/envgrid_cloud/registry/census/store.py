"""A checked census list applied to the registry: rows matched, placed, linked and upserted.

Every row stands alone: a bad one is reported and left out, the others go in. Re-importing the
same list changes nothing. A column the list does not have leaves that field of a matched site
as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import ValidationError

from envgrid_cloud.registry.census.check import Rejection, row_names
from envgrid_cloud.registry.census.headers import Column
from envgrid_cloud.registry.census.link import link
from envgrid_cloud.registry.census.places import Grid
from envgrid_cloud.registry.census.plan import Plan, plan_rows
from envgrid_cloud.registry.census.read import CensusFile
from envgrid_cloud.registry.census.report import ImportReport, Outcome
from envgrid_cloud.registry.sql import load as load_sql
from envgrid_cloud.registry.store import replace_downstream, upsert_cells, upsert_sites
from envgrid_common.registry import Site, SiteCategory

Progress = Callable[[int, int], None]


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
        conn.execute(load_sql("import_lock"))
        grid = Grid.load(conn)
        sites = _load_sites(conn)
        plans = plan_rows(census.rows, grid, sites, report)
        if Column.DOWNSTREAM in census.columns:
            plans = link(plans, sites, grid, report)
        _store(conn, plans, grid, census.columns, report, progress)
    report.rejected.sort(key=lambda r: r.line)
    return report


def _load_sites(conn: psycopg.Connection[Any]) -> dict[str, Site]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(load_sql("import_sites")).fetchall()
    # Stored rows are taken as they are: a site the API wrote is not re-judged here.
    return {
        r["id"]: Site.model_construct(**{**r, "downstream": tuple(r["downstream"])}) for r in rows
    }


def _merged(plan: Plan, grid: Grid, columns: frozenset[Column]) -> Site:
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
    plans: list[Plan],
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
    plan: Plan,
    grid: Grid,
    columns: frozenset[Column],
    report: ImportReport,
) -> Site | None:
    """One row's cells and site written, and counted; None if it was rejected instead."""
    try:
        site = _merged(plan, grid, columns)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        report.rejected.append(Rejection(plan.row.line, reason, row_names(plan.row)))
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
        report.rejected.append(Rejection(plan.row.line, reason, row_names(plan.row)))
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
