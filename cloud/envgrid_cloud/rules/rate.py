"""Rate-of-change rules: a valid value moved by more than ``max_change`` within ``per_s``.

The state keeps the sliding-window minimum and maximum of the last ``per_s`` seconds as
monotonic queues of ``[ts, value]``, so a rise is judged against the lowest value in the window
and a fall against the highest. A gap longer than ``per_s`` empties the window: a jump across a
gap in the data is not a rate of change anyone measured.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.base import State, Step, is_stale, iso, parse_ts, valid_value
from envgrid_cloud.rules.episode import judge
from envgrid_cloud.rules.model import RateOfChangeRule

# Bounds the stored state (jsonb) if a node reports far faster than per_s; the oldest go first.
MAX_WINDOW = 512


def _expire(queue: list[list[Any]], oldest: datetime) -> list[list[Any]]:
    # Entries are in time order: the expired ones are a prefix (only those are parsed).
    start = 0
    while start < len(queue) and parse_ts(queue[start][0]) < oldest:
        start += 1
    return queue[start:]


def _push(queue: list[list[Any]], ts: datetime, value: float, *, keep_low: bool) -> list[list[Any]]:
    # A monotonic queue: entries the new value makes irrelevant (for the minimum, any not
    # lower than it) are a suffix, so they come off the end.
    kept = list(queue)
    while kept and (kept[-1][1] >= value if keep_low else kept[-1][1] <= value):
        kept.pop()
    kept.append([iso(ts), value])
    return kept[-MAX_WINDOW:]


def evaluate(rule: RateOfChangeRule, state: State | None, sample: ReadingRecord) -> Step:
    """Judge one sample against the window of valid samples before it."""
    value = valid_value(sample, rule.metric)
    if value is None or is_stale(state, sample.ts, sample.seq):
        return Step(state)
    oldest = sample.ts - timedelta(seconds=rule.per_s)
    lows = _expire((state or {}).get("lows", []), oldest)
    highs = _expire((state or {}).get("highs", []), oldest)
    detail: dict[str, Any] = {"max_change": rule.max_change, "per_s": rule.per_s}
    moves = []
    if lows and rule.direction in ("rise", "both"):
        moves.append(("rise", value - lows[0][1], lows[0]))
    if highs and rule.direction in ("fall", "both"):
        moves.append(("fall", highs[0][1] - value, highs[0]))
    breaching = False
    if moves:
        direction, change, ref = max(moves, key=lambda m: m[1])
        if change > rule.max_change:
            breaching = True
            detail |= {
                "direction": direction,
                "change": change,
                "from_value": ref[1],
                "from_at": ref[0],
                "limit": rule.max_change,
            }
    step = judge(
        state,
        sample.ts,
        sample.seq,
        breaching=breaching,
        hold_s=0.0,
        metric=rule.metric,
        value=value,
        detail=detail,
    )
    new = dict(step.state or {})
    new["lows"] = _push(lows, sample.ts, value, keep_low=True)
    new["highs"] = _push(highs, sample.ts, value, keep_low=False)
    return Step(new, step.finding)
