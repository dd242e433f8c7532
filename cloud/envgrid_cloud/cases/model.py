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
    # Several breaches of one batch counted at once: how many, and the first and worst of them
    # (``at`` and ``value`` are the latest). None: this breach alone.
    occurrences: int = 1
    first_at: datetime | None = None
    first_value: float | None = None
    peak: float | None = None


@dataclass(frozen=True, slots=True)
class Cleared:
    """A rule's condition no longer holds at a site: recorded on its open case, if any."""

    site_id: str
    rule_id: str
    at: datetime
    node_id: str | None = None


class Role(StrEnum):
    """What an officer may do (officers.role)."""

    GRID_OFFICER = "grid_officer"  # 网格员: works the cases of their cell
    REVIEWER = "reviewer"  # 审核员: dispatches, verifies and closes or dismisses
    ADMIN = "admin"  # may do anything a reviewer may, anywhere


class Action(StrEnum):
    """A move a person makes on a case (see ``envgrid_cloud.cases.states``)."""

    DISPATCH = "dispatch"  # 交办
    REASSIGN = "reassign"  # 改派
    ACKNOWLEDGE = "acknowledge"  # 签收
    INSPECT = "inspect"  # 现场核查
    RECTIFY = "rectify"  # 整改
    REPORT = "report"  # 上报
    REJECT = "reject"  # 退回整改
    CLOSE = "close"  # 销号
    DISMISS = "dismiss"  # 误报, with a reason
    CLAIM = "claim"  # 认领: an officer takes a case nobody was found for, and signs for it
    COMMENT = "comment"  # 评论: a note on the file, in any state; the case does not move


@dataclass(frozen=True, slots=True)
class CaseChange:
    """What ``raise_or_update`` did: opened a case, or updated the open one."""

    case_id: int
    new: bool  # True: this breach opened the case
    state: CaseState
    occurrences: int
    assignee_id: str | None = None
    notified_townships: tuple[str, ...] = ()  # downstream townships told (new water cases)
