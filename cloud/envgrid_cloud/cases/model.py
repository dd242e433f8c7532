"""What the rules hand to the cases, and the words both sides share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How urgent a case is; deadlines to acknowledge and to close follow from it."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class CaseState(StrEnum):
    """Where a case is in the closed loop (闭环)."""

    RAISED = "raised"
    DISPATCHED = "dispatched"  # 交办
    ACKNOWLEDGED = "acknowledged"  # 签收
    INSPECTING = "inspecting"  # 现场核查
    RECTIFYING = "rectifying"  # 整改
    REPORTED = "reported"  # 上报
    CLOSED = "closed"  # 销号
    DISMISSED = "dismissed"  # 误报


OPEN_STATES = frozenset(CaseState) - {CaseState.CLOSED, CaseState.DISMISSED}


@dataclass(frozen=True, slots=True)
class Breach:
    """A rule's condition holds at a site: open a case, or update the open one."""

    site_id: str
    rule_id: str
    severity: Severity
    title: str
    at: datetime  # source time of the breach
    node_id: str | None = None
    metric: str | None = None
    value: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Cleared:
    """A rule's condition no longer holds at a site: recorded on its open case, if any."""

    site_id: str
    rule_id: str
    at: datetime
    node_id: str | None = None
