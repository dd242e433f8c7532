"""Helpers the rules tests share: samples on a clock, and runs that restart between samples."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from envgrid_cloud.observations import Observation, ReadingRecord
from envgrid_cloud.rules.base import Finding, State
from envgrid_cloud.rules.evaluate import evaluate
from envgrid_cloud.rules.model import Rule
from envgrid_common.clock import SHANGHAI

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=SHANGHAI)


def at(minutes: float) -> datetime:
    """``minutes`` after T0 (08:00 on 1 May 2026, Asia/Shanghai)."""
    return T0 + timedelta(minutes=minutes)


def sample(
    minutes: float,
    seq: int | None = None,
    *,
    flags: dict[str, str] | None = None,
    historical: bool = False,
    **values: float,
) -> ReadingRecord:
    """A sample ``minutes`` after T0; its seq follows its time unless given."""
    return ReadingRecord(
        "node-1",
        at(minutes),
        round(minutes * 60) if seq is None else seq,
        values,
        flags or {},
        historical,
    )


def restart(state: State | None) -> State | None:
    """The state as PostgreSQL hands it back after a restart: through JSON, nothing else."""
    restored: State | None = json.loads(json.dumps(state))
    return restored


def run(
    rule: Rule, observations: Iterable[Observation], state: State | None = None
) -> tuple[State | None, list[Finding | None]]:
    """Feed observations one by one, storing and reloading the state between every two."""
    findings: list[Finding | None] = []
    for observation in observations:
        step = evaluate(rule, state, observation)
        state = restart(step.state)
        findings.append(step.finding)
    return state, findings


def kinds(findings: Iterable[Finding | None]) -> list[str | None]:
    """Each step's finding kind ("breach", "clear") or None."""
    return [f.kind if f else None for f in findings]


def detail_json(finding: Finding) -> Any:
    """A finding's detail through JSON (it is stored as jsonb)."""
    return json.loads(json.dumps(finding.detail))
