"""What evaluators take and give: samples and other observations in, a state and a finding out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from envgrid_cloud.observations import ReadingRecord

State = dict[str, Any]
"""What a rule remembers for one node between samples: JSON only (stored as jsonb)."""

# HJ 212-2017 表 8: only N (normal) and S (manually entered) values are measurements. F, M, D,
# C and B mark invalid data, which is never used to judge exceedance (STANDARDS.md §4.2), and T
# (above the measuring range) is a data-quality event, not an exceedance. A value without a
# flag is normal.
VALID_FLAGS = frozenset({"N", "S"})


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's verdict at one source time: its condition holds (breach) or stopped (clear)."""

    kind: Literal["breach", "clear"]
    at: datetime
    metric: str | None = None
    value: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # JSON values only


@dataclass(frozen=True, slots=True)
class Step:
    """An evaluator's answer: the state to store (None: nothing to remember) and a finding."""

    state: State | None
    finding: Finding | None = None
    # A second verdict after ``finding`` (a silence found only when it ended: breach, then clear).
    also: Finding | None = None


def valid_value(sample: ReadingRecord, metric: str) -> float | None:
    """The sample's value of ``metric`` if it is a valid measurement, else None (skip it)."""
    value = sample.values.get(metric)
    if value is None or not math.isfinite(value):
        return None
    if sample.flags.get(metric, "N") not in VALID_FLAGS:
        return None
    return float(value)


def iso(ts: datetime) -> str:
    """A source time as stored in state and details."""
    return ts.isoformat()


def parse_ts(text: str) -> datetime:
    """A source time back from state."""
    return datetime.fromisoformat(text)


def is_stale(state: Mapping[str, Any] | None, ts: datetime, seq: int) -> bool:
    """Whether (ts, seq) is not after the last observation the state has taken in."""
    # Late, out-of-order delivery is the usual reason; an equal (ts, seq) is a redelivery.
    last = state.get("last") if state else None
    if not last:
        return False
    return (ts, seq) <= (parse_ts(last[0]), int(last[1]))


def cursor(ts: datetime, seq: int) -> list[Any]:
    """The ``last`` entry of a state after taking in (ts, seq)."""
    return [iso(ts), seq]
