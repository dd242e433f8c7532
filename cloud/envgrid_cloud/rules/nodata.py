"""No-data rules: a node silent for longer than ``tolerance`` × its reporting interval.

Silence is not a sample, so a sweeper judges it (``sweep``, on a timer) from the node's last
live reading. Historical (backfilled) readings do not count as live: they neither feed
``last_live_at`` nor clear the rule, since they say nothing about the node now. A node that is
offline is muted: its offline case stands for it. A live sample clears the rule at once, and
one that ends a silence no sweep saw raises and clears it then, with the sweep's times.
The state is ``{"open": bool, "last": source time}``: whether a no-data breach stands for the
node, and its latest live reading the ingest judged.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.base import Finding, State, Step, iso, parse_ts
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
    """Breach when a node becomes overdue (dated when it did); clear when live data resumed.

    The state's ``last`` (the latest live reading the ingest judged, under the state's lock)
    wins over an older ``last_live_at``: a silence the ingest has seen end is its to judge.
    """
    if node_offline or last_live_at is None:
        return Step(state)
    heard = _last(state)
    if heard is not None and heard > last_live_at:
        last_live_at = heard
    late = overdue(now, last_live_at, report_interval_s, rule.tolerance, node_offline)
    if late == bool((state or {}).get("open")):
        return Step(state)
    if late:
        breach = _silence(rule, last_live_at, report_interval_s)
        return Step({**(state or {}), "open": True}, breach)
    detail = {"resumed_at": iso(last_live_at)}
    return Step({**(state or {}), "open": False}, Finding("clear", last_live_at, detail=detail))


def evaluate(
    rule: NoDataRule, state: State | None, sample: ReadingRecord, report_interval_s: float | None
) -> Step:
    """A live sample ends a silence: the clear if the sweep had raised it; if none had and the
    silence before it was overdue, its breach (dated when it became overdue) and its clear, as
    the sweep would have had it looked in time. So no data is decided by the readings alone,
    not by when a sweep ran."""
    if sample.historical:
        return Step(state)
    last = _last(state)
    after = {"open": False, "last": iso(sample.ts if last is None else max(last, sample.ts))}
    resumed = Finding("clear", sample.ts, detail={"resumed_at": iso(sample.ts)})
    if (state or {}).get("open"):
        return Step(after, resumed)
    if (
        last is None
        or report_interval_s is None
        or not overdue(sample.ts, last, report_interval_s, rule.tolerance, node_offline=False)
    ):
        return Step(after if after != state else state)
    return Step(after, _silence(rule, last, report_interval_s), also=resumed)


def _silence(rule: NoDataRule, last_live_at: datetime, report_interval_s: float) -> Finding:
    """The breach of a silence since ``last_live_at``: dated when it became overdue."""
    silence = rule.tolerance * report_interval_s
    detail = {
        "last_live_at": iso(last_live_at),
        "report_interval_s": report_interval_s,
        "tolerance": rule.tolerance,
    }
    return Finding("breach", last_live_at + timedelta(seconds=silence), detail=detail)


def _last(state: State | None) -> datetime | None:
    """The latest live reading's source time the state remembers."""
    text = (state or {}).get("last")
    return parse_ts(text) if isinstance(text, str) else None
