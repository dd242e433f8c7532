"""How long a case may wait, by severity, to be acknowledged (签收) and to be closed (销号)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from envgrid_cloud.cases.model import Severity


@dataclass(frozen=True, slots=True)
class Deadline:
    """Time allowed to acknowledge and to close a case of one severity."""

    acknowledge: timedelta
    close: timedelta


DEADLINES: dict[Severity, Deadline] = {
    Severity.CRITICAL: Deadline(timedelta(minutes=30), timedelta(hours=24)),
    Severity.HIGH: Deadline(timedelta(hours=2), timedelta(days=3)),
    Severity.MEDIUM: Deadline(timedelta(hours=8), timedelta(days=7)),
    Severity.LOW: Deadline(timedelta(hours=24), timedelta(days=15)),
}
"""Per severity: acknowledge within, close within.

The acknowledge clock starts when a case is dispatched (at once for an automatically dispatched
case; again when a reviewer reassigns it); the close clock starts when the case is raised. A case
that misses either escalates one level up the grid, and its missed clock restarts from then.
"""


def ack_due(severity: Severity, start: datetime) -> datetime:
    """When a case of ``severity`` dispatched at ``start`` must be acknowledged."""
    return start + DEADLINES[severity].acknowledge


def close_due(severity: Severity, start: datetime) -> datetime:
    """When a case of ``severity`` raised at ``start`` must be closed."""
    return start + DEADLINES[severity].close
