"""Breach episodes of a per-sample condition: the hold, a breach per sample, one clear.

Semantics shared by threshold, AQI and rate-of-change rules:
- a valid sample meeting the condition starts a run (``since``); once the run has lasted
  ``hold_s`` of source time the rule is in breach, and every further sample meeting the
  condition is a breach finding too (the case store counts them and keeps the peak);
- a gap without valid data neither ends nor pauses a run: only a valid sample that does not
  meet the condition ends it, and the next one meeting it starts a new run;
- that first valid sample not meeting the condition after a breach is the one clear finding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from envgrid_cloud.rules.base import Finding, State, Step, cursor, iso, parse_ts


def judge(
    state: State | None,
    ts: datetime,
    seq: int,
    *,
    breaching: bool,
    hold_s: float,
    metric: str | None,
    value: float | None,
    detail: dict[str, Any],
) -> Step:
    """The step for a fresh sample (not older than the state's last one)."""
    new: State = dict(state or {})
    new["last"] = cursor(ts, seq)
    since = parse_ts(new["since"]) if new.get("since") else None
    if not breaching:
        new["since"] = None
        if not new.get("in_breach"):
            return Step(new)
        new["in_breach"] = False
        if since is not None:
            detail = {**detail, "since": iso(since), "lasted_s": (ts - since).total_seconds()}
        return Step(new, Finding("clear", ts, metric, value, detail))
    if since is None:
        since = ts
        new["since"] = iso(ts)
    held_s = (ts - since).total_seconds()
    if held_s < hold_s:
        return Step(new)
    new["in_breach"] = True
    detail = {**detail, "since": iso(since), "held_s": held_s}
    return Step(new, Finding("breach", ts, metric, value, detail))


def judge_late(
    state: State | None,
    ts: datetime,
    *,
    breaching: bool,
    metric: str | None,
    value: float | None,
    detail: dict[str, Any],
) -> Step:
    """The step for a late sample of a rule without hold: it may breach, never clear."""
    # Marked in breach without moving the cursor: the next fresh sample within limits clears
    # the case the late one raised, while a late one within limits says nothing about now.
    if not breaching:
        return Step(state)
    new: State = dict(state or {})
    new["in_breach"] = True
    detail = {**detail, "late": True, "held_s": 0.0}
    return Step(new, Finding("breach", ts, metric, value, detail))
