"""Each row's downstream names resolved to sites; rows that cannot be linked are left out.

A name is looked for among the file's rows and the stored sites (same township first); a link
that would make water flow in a circle is refused on the last row of the file that closes it.
"""

from __future__ import annotations

from envgrid_cloud.registry.census.check import Rejection, row_names
from envgrid_cloud.registry.census.places import Grid
from envgrid_cloud.registry.census.plan import Plan
from envgrid_cloud.registry.census.report import ImportReport
from envgrid_common.registry import Site, downstream_cycle


def link(plans: list[Plan], sites: dict[str, Site], grid: Grid, report: ImportReport) -> list[Plan]:
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
    live: list[Plan], sites: dict[str, Site], towns: dict[str, str | None], report: ImportReport
) -> list[Plan]:
    """Resolve references against live rows and stored sites; the rows that failed."""
    rejected_lines = {name: r.line for r in report.rejected for name in r.names}
    dropped: list[Plan] = []
    for plan in live:
        ids: list[str] = []
        for text in plan.row.downstream:
            try:
                ids.append(_target(plan, text, live, sites, towns, rejected_lines))
            except ValueError as exc:
                report.rejected.append(Rejection(plan.row.line, str(exc), row_names(plan.row)))
                dropped.append(plan)
                break
        plan.downstream = tuple(sorted(set(ids)))
    return dropped


def _target(
    plan: Plan,
    text: str,
    live: list[Plan],
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


def _break_circle(live: list[Plan], sites: dict[str, Site], report: ImportReport) -> list[Plan]:
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
            row_names(culprit.row),
        )
    )
    return [culprit]
