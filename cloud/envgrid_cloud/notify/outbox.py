"""Who is told of a case change: outbox rows written in the change's own transaction.

Only changes a person must hear of about are sent to phones: a new case, a rise in severity, a
recurrence, an escalation or an overdue case go to the channels of the case's area (and to the
assignee's own); a dispatch, a reassignment, a report sent back and a reminder go to the
assignee's own channels (to the area's group channels when the assignee has none, where the
robot @-mentions them). A repeat, a clearing, or a step the assignee takes themselves is not
sent. The rows commit or roll back with the change: a case is never told of without existing,
nor changed without being told of.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb

from envgrid_cloud.notify.sql import load

# Severities from least to most urgent (array positions in SQL).
RANKS = ["low", "medium", "high", "critical"]

Audience = Literal["area", "assignee"]

AUDIENCE: dict[str, Audience] = {
    "raised": "area",
    "severity_raised": "area",
    "recurred": "area",
    "escalated": "area",
    "overdue": "area",
    "dispatch": "assignee",
    "reassign": "assignee",
    "reject": "assignee",
    "reminder": "assignee",
}
"""The events sent to phones, and to whom."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def enqueue(
    cur: psycopg.Cursor[Any],
    case_id: int,
    event: str,
    detail: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Queue ``event`` of case ``case_id`` for every channel to be told; how many rows.

    Runs in ``cur``'s transaction. ``now`` is when the rows fall due; None: the time of the step
    just recorded on the case (every change that is sent records one first).
    """
    audience = AUDIENCE.get(event)
    if audience is None:
        return 0
    cur.execute(
        load("enqueue"),
        {
            "case_id": case_id,
            "event": event,
            "detail": Jsonb({k: _plain(v) for k, v in (detail or {}).items()}),
            "audience": audience,
            "ranks": RANKS,
            "now": now,
        },
    )
    return cur.rowcount
