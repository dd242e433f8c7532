"""The cases of two replays of one feed, set side by side: what the overrides change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from envgrid_cloud.whatif.sql import load
from envgrid_common.clock import to_shanghai


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One case as a what-if shows it."""

    site_id: str
    rule_id: str
    state: str
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    raised_at: datetime
    cleared_at: datetime | None
    first_value: float | None
    peak_value: float | None
    severity: str


def read_cases(url: str) -> list[CaseSummary]:
    """Every case in the database at ``url``."""
    with psycopg.connect(url) as conn:
        return [CaseSummary(*row) for row in conn.execute(load("cases")).fetchall()]


@dataclass(frozen=True, slots=True)
class Difference:
    """A (site, rule) whose cases differ: those without the overrides, and with them."""

    site_id: str
    rule_id: str
    before: tuple[CaseSummary, ...]
    after: tuple[CaseSummary, ...]

    @property
    def verdict(self) -> str:
        """What the overrides do to this (site, rule)."""
        if not self.before:
            return "would be raised"
        if not self.after:
            return "would not be raised"
        return "would differ"


def compare(before: list[CaseSummary], after: list[CaseSummary]) -> list[Difference]:
    """Every (site, rule) whose cases are not the same with the overrides as without."""
    keys = sorted({(c.site_id, c.rule_id) for c in (*before, *after)})
    found = []
    for key in keys:
        was = tuple(c for c in before if (c.site_id, c.rule_id) == key)
        now = tuple(c for c in after if (c.site_id, c.rule_id) == key)
        if was != now:
            found.append(Difference(key[0], key[1], was, now))
    return found


def describe(case: CaseSummary) -> str:
    """One line for a case: when raised (Beijing time), how often, how bad, cleared or not."""
    raised = to_shanghai(case.raised_at).strftime("%Y-%m-%d %H:%M:%S")
    first = "-" if case.first_value is None else f"{case.first_value:g}"
    peak = "" if case.peak_value is None else f", peak {case.peak_value:g}"
    cleared = (
        f", cleared {to_shanghai(case.cleared_at).strftime('%H:%M:%S')}"
        if case.cleared_at is not None
        else ""
    )
    return f"{case.severity} raised {raised}, {case.occurrences}× (first {first}{peak}){cleared}"


def report(site_id: str, before: list[CaseSummary], after: list[CaseSummary]) -> list[str]:
    """The lines a what-if prints: the site's cases with the overrides, then the changes."""
    lines = [f"with the overrides, site {site_id} would have had:"]
    mine = [c for c in after if c.site_id == site_id]
    lines += [f"  {c.rule_id:<14} {describe(c)}" for c in mine] or ["  no case"]
    changes = compare(before, after)
    if not changes:
        lines.append("against the same feed without them: no case differs")
        return lines
    lines.append("against the same feed without them:")
    for change in changes:
        lines.append(f"  {change.site_id} {change.rule_id}: {change.verdict}")
        lines += [f"    without: {describe(c)}" for c in change.before]
        lines += [f"    with:    {describe(c)}" for c in change.after]
    return lines
