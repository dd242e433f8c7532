"""Stuck-value rules (恒值): valid values that stay within ``tolerance`` for too long.

A run is the valid samples since the first one whose spread (max − min) stays within the
tolerance. It is stuck once it spans ``rule.span_s`` of source time (the window, and at least
``min_cycles`` measuring cycles of a non-continuous analyser, which legitimately repeats one
result for a whole cycle) and counts ``min_samples`` samples. A value outside the spread starts
a new run at that value (slightly conservative: the new run does not keep the old run's tail).
Flagged samples are skipped: they neither extend nor break a run.
"""

from __future__ import annotations

from typing import Any

from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.base import (
    Finding,
    State,
    Step,
    cursor,
    is_stale,
    iso,
    parse_ts,
    valid_value,
)
from envgrid_cloud.rules.model import StuckRule


def evaluate(rule: StuckRule, state: State | None, sample: ReadingRecord) -> Step:
    """Extend or restart the run with one sample; breach while it is stuck, clear when it moves."""
    value = valid_value(sample, rule.metric)
    if value is None or is_stale(state, sample.ts, sample.seq):
        return Step(state)
    old = state or {}
    new: State = {"last": cursor(sample.ts, sample.seq), "in_breach": bool(old.get("in_breach"))}
    if old.get("start") is not None:
        low = min(float(old["low"]), value)
        high = max(float(old["high"]), value)
        if high - low <= rule.tolerance:
            new |= {"start": old["start"], "low": low, "high": high, "count": old["count"] + 1}
            return _judge(rule, new, sample, value)
    new |= {"start": iso(sample.ts), "low": value, "high": value, "count": 1}
    if not new["in_breach"]:
        return Step(new)
    new["in_breach"] = False
    detail = {
        "stuck_low": old["low"],
        "stuck_high": old["high"],
        "since": old["start"],
        "lasted_s": (sample.ts - parse_ts(old["start"])).total_seconds(),
    }
    return Step(new, Finding("clear", sample.ts, rule.metric, value, detail))


def _judge(rule: StuckRule, run: State, sample: ReadingRecord, value: float) -> Step:
    held_s = (sample.ts - parse_ts(run["start"])).total_seconds()
    if held_s < rule.span_s or run["count"] < rule.min_samples:
        return Step(run)
    run["in_breach"] = True
    detail: dict[str, Any] = {
        "since": run["start"],
        "held_s": held_s,
        "samples": run["count"],
        "low": run["low"],
        "high": run["high"],
        "tolerance": rule.tolerance,
        "span_s": rule.span_s,
    }
    return Step(run, Finding("breach", sample.ts, rule.metric, value, detail))
