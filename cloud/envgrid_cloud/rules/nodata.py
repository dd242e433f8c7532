"""No-data rules: a node silent for longer than ``tolerance`` × its reporting interval.

Silence is not a sample, so a sweeper judges it (``sweep``, on a timer) from the node's last
live reading. Historical (backfilled) readings do not count as live: they neither feed
``last_live_at`` nor clear the rule, since they say nothing about the node now. A node that is
offline is muted: its offline case stands for it. A live sample clears the rule at once.
The state is ``{"open": bool}``: whether a no-data breach stands for the node.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.base import Finding, State, Step, iso
from envgrid_cloud.rules.model import NoDataRule


def overdue(
    now: datetime,
    last_live_at: datetime | None,
    report_interval_s: float,
    tolerance: float,
    node_offline: bool,
) -> bool:
    """Whether a node's live data is overdue (never when offline, or before its first reading)."""
    if node_offline or last_live_at is None:
        return False
    return (now - last_live_at).total_seconds() > tolerance * report_interval_s


def sweep(
    rule: NoDataRule,
    state: State | None,
    *,
    now: datetime,
    last_live_at: datetime | None,
    report_interval_s: float,
    node_offline: bool,
) -> Step:
    """Breach when a node becomes overdue (dated when it did); clear when live data resumed."""
    if node_offline or last_live_at is None:
        return Step(state)
    late = overdue(now, last_live_at, report_interval_s, rule.tolerance, node_offline)
    if late == bool((state or {}).get("open")):
        return Step(state)
    detail = {
        "last_live_at": iso(last_live_at),
        "report_interval_s": report_interval_s,
        "tolerance": rule.tolerance,
        "silent_s": (now - last_live_at).total_seconds(),
    }
    if late:
        due = last_live_at + timedelta(seconds=rule.tolerance * report_interval_s)
        return Step({"open": True}, Finding("breach", due, detail=detail))
    return Step({"open": False}, Finding("clear", last_live_at, detail=detail))


def evaluate(rule: NoDataRule, state: State | None, sample: ReadingRecord) -> Step:
    """A live sample ends the silence: the clear, if the rule was in breach."""
    if sample.historical or not (state or {}).get("open"):
        return Step(state)
    detail = {"resumed_at": iso(sample.ts)}
    return Step({"open": False}, Finding("clear", sample.ts, detail=detail))
