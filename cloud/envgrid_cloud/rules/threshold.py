"""Threshold rules: a valid value above ``above`` or below ``below``, at once or held."""

from __future__ import annotations

from typing import Any

from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.base import State, Step, is_stale, valid_value
from envgrid_cloud.rules.episode import judge, judge_late
from envgrid_cloud.rules.model import ThresholdRule


def beyond(rule: ThresholdRule, value: float) -> str | None:
    """Which limit ``value`` is beyond ("above" or "below"), or None within limits."""
    # A limit is the largest (smallest) value allowed: GB 3838's "≤ 20" is breached by 20.1.
    if rule.above is not None and value > rule.above:
        return "above"
    if rule.below is not None and value < rule.below:
        return "below"
    return None


def evaluate(rule: ThresholdRule, state: State | None, sample: ReadingRecord) -> Step:
    """Judge one sample; late samples still breach a rule without hold (never clear it)."""
    value = valid_value(sample, rule.metric)
    if value is None:
        return Step(state)
    direction = beyond(rule, value)
    detail: dict[str, Any] = {"above": rule.above, "below": rule.below}
    if direction is not None:
        detail |= {"direction": direction, "limit": getattr(rule, direction)}
    if is_stale(state, sample.ts, sample.seq):
        if rule.hold_s > 0:
            return Step(state)
        return judge_late(
            state,
            sample.ts,
            breaching=direction is not None,
            metric=rule.metric,
            value=value,
            detail=detail,
        )
    return judge(
        state,
        sample.ts,
        sample.seq,
        breaching=direction is not None,
        hold_s=rule.hold_s,
        metric=rule.metric,
        value=value,
        detail=detail,
    )
