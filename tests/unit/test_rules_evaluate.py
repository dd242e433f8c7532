"""The dispatcher: each rule type gets its observations, the rest pass it by."""

from __future__ import annotations

from typing import Any

import pytest

from envgrid_cloud.cases.model import Breach, Cleared, Severity
from envgrid_cloud.observations import DetectionRecord, ReadingRecord, StatusChange
from envgrid_cloud.rules.base import Finding
from envgrid_cloud.rules.evaluate import evaluate, to_case_event
from envgrid_cloud.rules.model import (
    DetectionRule,
    OfflineRule,
    Rule,
    ThresholdRule,
    parse_rule,
)
from envgrid_common.messages import DetectionKind, DetectionPhase, NodeState
from tests.unit.test_rules_support import T0, at, sample

COD = ThresholdRule(
    id="cod",
    severity=Severity.HIGH,
    title="化学需氧量超标",
    metric="cod",
    above=20,
    basis="GB 3838-2002 表 1 第 5 项",
)
OFFLINE = OfflineRule(id="offline", severity=Severity.MEDIUM, title="监测设备离线")
BURNING = DetectionRule(
    id="burning", severity=Severity.CRITICAL, title="疑似秸秆焚烧", kinds=(DetectionKind.FLAME,)
)
FLAME = DetectionRecord("cam", T0, 1, "e1", DetectionKind.FLAME, DetectionPhase.NEW, 0.9)
GONE = StatusChange("node-1", NodeState.OFFLINE, T0)
HOT = sample(0, cod=99.0)


@pytest.mark.parametrize(
    ("rule", "observation", "fires"),
    [
        (COD, HOT, True),
        (COD, FLAME, False),
        (COD, GONE, False),
        (BURNING, FLAME, True),
        (BURNING, HOT, False),
        (BURNING, GONE, False),
        (OFFLINE, GONE, True),
        (OFFLINE, HOT, False),
        (OFFLINE, FLAME, False),
    ],
)
def test_each_rule_takes_its_own_kind_of_observation(
    rule: Rule, observation: ReadingRecord | DetectionRecord | StatusChange, fires: bool
) -> None:
    step = evaluate(rule, {"keep": 1}, observation)
    if fires:
        assert step.finding is not None
        assert step.finding.kind == "breach"
    else:
        assert step.finding is None
        assert step.state == {"keep": 1}


def test_a_disabled_rule_judges_nothing() -> None:
    off = COD.model_copy(update={"enabled": False})
    assert evaluate(off, None, HOT).finding is None


def test_a_raw_row_is_refused_not_ignored() -> None:
    row = ("cam", T0, 1, "e1", "flame", "new", 0.9, b"{}", False)
    with pytest.raises(TypeError, match="not an observation"):
        evaluate(BURNING, None, row)  # type: ignore[arg-type]


def test_findings_become_case_events() -> None:
    breach = Finding("breach", at(5), "cod", 25.0, {"limit": 20})
    event = to_case_event(breach, COD, "site-1", "node-1")
    assert event == Breach(
        site_id="site-1",
        rule_id="cod",
        severity=Severity.HIGH,
        title="化学需氧量超标",
        at=at(5),
        node_id="node-1",
        metric="cod",
        value=25.0,
        detail={"limit": 20, "basis": "GB 3838-2002 表 1 第 5 项"},
    )
    assert to_case_event(Finding("clear", at(9)), COD, "site-1", "node-1") == Cleared(
        "site-1", "cod", at(9), "node-1"
    )


def test_every_rule_type_parses_from_plain_data() -> None:
    base = {"severity": "low", "title": "测试"}
    cases: list[dict[str, Any]] = [
        {"type": "threshold", "metric": "cod", "above": 1},
        {"type": "rate_of_change", "metric": "cod", "max_change": 1, "per_s": 60},
        {"type": "stuck", "metric": "cod", "window_s": 60},
        {"type": "daily_mean", "metric": "cod", "above": 1},
        {"type": "aqi"},
        {"type": "no_data"},
        {"type": "offline"},
        {"type": "detection", "kinds": ["smoke"]},
    ]
    for fields in cases:
        rule = parse_rule({"id": "r", **base, **fields}, "test")
        assert rule.type == fields["type"]
        assert parse_rule(rule.model_dump(mode="json"), "again") == rule
