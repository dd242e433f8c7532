"""One entry point for every rule type: ``evaluate(rule, state, observation)``.

Every rule of a site may be handed every observation of its nodes; a rule takes the kinds it
judges (readings, detections, status changes) and returns the state unchanged for the others.
No-data rules are also swept on a timer (``nodata.sweep``) and daily means closed after
midnight (``daily_mean.close_day``).
"""

from __future__ import annotations

from envgrid_cloud.cases.model import Breach, Cleared
from envgrid_cloud.observations import DetectionRecord, Observation, ReadingRecord, StatusChange
from envgrid_cloud.rules import (
    aqi,
    daily_mean,
    detection,
    nodata,
    rate,
    status,
    stuck,
    threshold,
)
from envgrid_cloud.rules.base import Finding, State, Step
from envgrid_cloud.rules.model import (
    AqiRule,
    DailyMeanRule,
    DetectionRule,
    NoDataRule,
    OfflineRule,
    RateOfChangeRule,
    Rule,
    StuckRule,
    ThresholdRule,
)

__all__ = [
    "DetectionRecord",
    "Finding",
    "Observation",
    "ReadingRecord",
    "State",
    "StatusChange",
    "Step",
    "evaluate",
    "to_case_event",
]


def evaluate(
    rule: Rule,
    state: State | None,
    observation: Observation,
    *,
    report_interval_s: float | None = None,
) -> Step:
    """The rule's step for one observation (a disabled rule, or a foreign kind: no change);
    ``report_interval_s`` is the node's, by which the no-data rule sees a silence end."""
    if not rule.enabled:
        return Step(state)
    if isinstance(observation, ReadingRecord):
        if isinstance(rule, NoDataRule):
            return nodata.evaluate(rule, state, observation, report_interval_s)
        return _sample(rule, state, observation)
    if isinstance(observation, DetectionRecord) and isinstance(rule, DetectionRule):
        return detection.evaluate(rule, state, observation)
    if isinstance(observation, StatusChange) and isinstance(rule, OfflineRule):
        return status.on_status(rule, state, observation)
    if not isinstance(observation, ReadingRecord | DetectionRecord | StatusChange):
        # A raw row handed over unconverted would otherwise be ignored without a word.
        raise TypeError(f"not an observation: {type(observation).__name__}")
    return Step(state)


def _sample(rule: Rule, state: State | None, sample: ReadingRecord) -> Step:
    match rule:
        case ThresholdRule():
            return threshold.evaluate(rule, state, sample)
        case RateOfChangeRule():
            return rate.evaluate(rule, state, sample)
        case StuckRule():
            return stuck.evaluate(rule, state, sample)
        case DailyMeanRule():
            return daily_mean.evaluate(rule, state, sample)
        case AqiRule():
            return aqi.evaluate(rule, state, sample)
        case _:
            return Step(state)


def to_case_event(finding: Finding, rule: Rule, site_id: str, node_id: str) -> Breach | Cleared:
    """What the case store takes from a finding of ``rule`` at a site's node."""
    if finding.kind == "clear":
        return Cleared(site_id, rule.id, finding.at, node_id)
    detail = dict(finding.detail)
    if rule.basis:
        detail.setdefault("basis", rule.basis)
    return Breach(
        site_id=site_id,
        rule_id=rule.id,
        severity=rule.severity,
        title=rule.title,
        at=finding.at,
        node_id=node_id,
        metric=finding.metric,
        value=finding.value,
        detail=detail,
    )
