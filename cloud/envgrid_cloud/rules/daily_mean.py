"""Daily-mean rules: GB 18596-2001's limits are daily means (表 5), so a day is judged whole.

A day runs from midnight to midnight in Asia/Shanghai. It is judged when it is complete: when
a valid sample of a later day arrives (``evaluate``), or when a timer calls ``close_day`` after
midnight so a node that falls silent still has its day judged. A day with fewer than
``min_samples`` valid samples is not judged (too little data for a mean). A day's breach or
clear is dated at its end; once judged, a day takes no more samples (late ones are ignored).

Within the open day, order does not matter: a sum and a count take samples as they come, so
several ingest workers committing one node's readings out of order (a backlog drained across
workers) still give the day its exact mean. Repeats never arrive here: the rules judge only
readings stored for the first time.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.base import (
    Finding,
    State,
    Step,
    valid_value,
)
from envgrid_cloud.rules.model import DailyMeanRule
from envgrid_common.clock import SHANGHAI


def local_day(ts: datetime) -> date:
    """The calendar day in Asia/Shanghai that ``ts`` falls on."""
    return ts.astimezone(SHANGHAI).date()


def day_end(day: date) -> datetime:
    """The instant ``day`` ends (the next local midnight)."""
    return datetime.combine(day + timedelta(days=1), time(), SHANGHAI)


def evaluate(rule: DailyMeanRule, state: State | None, sample: ReadingRecord) -> Step:
    """Add one sample to its day; the first sample of a later day judges the open day."""
    value = valid_value(sample, rule.metric)
    if value is None:
        return Step(state)
    day = local_day(sample.ts).isoformat()
    old = state or {}
    closed, open_day = old.get("closed"), old.get("day")
    if (closed is not None and day <= closed) or (open_day is not None and day < open_day):
        return Step(state)  # a late sample of a day already judged, or being left behind
    new: State = dict(old)
    finding = None
    if open_day != day:
        if open_day is not None:
            new, finding = _close(rule, new)
        new |= {"day": day, "sum": 0.0, "count": 0, "max": value}
    new |= {
        "sum": new["sum"] + value,
        "count": new["count"] + 1,
        "max": max(new["max"], value),
    }
    return Step(new, finding)


def close_day(rule: DailyMeanRule, state: State | None, now: datetime) -> Step:
    """Judge the open day if it has ended by ``now`` (for a timer after midnight)."""
    if not state or state.get("day") is None:
        return Step(state)
    if now < day_end(date.fromisoformat(state["day"])):
        return Step(state)
    new, finding = _close(rule, dict(state))
    return Step(new, finding)


def _close(rule: DailyMeanRule, state: State) -> tuple[State, Finding | None]:
    day = date.fromisoformat(state["day"])
    count = int(state["count"])
    new = {**state, "closed": day.isoformat(), "day": None, "sum": 0.0, "count": 0}
    if count < rule.min_samples:
        return new, None
    mean = state["sum"] / count
    detail: dict[str, Any] = {
        "day": day.isoformat(),
        "mean": mean,
        "samples": count,
        "max": state["max"],
        "limit": rule.above,
    }
    if mean > rule.above:
        new["in_breach"] = True
        return new, Finding(
            "breach", day_end(day), rule.metric, mean, detail | {"direction": "above"}
        )
    if state.get("in_breach"):
        new["in_breach"] = False
        return new, Finding("clear", day_end(day), rule.metric, mean, detail)
    return new, None
