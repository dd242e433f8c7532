"""Overdue cases climb the grid (逐级上报): one level per sweep, up to the county.

A case not acknowledged by its ack deadline, or not closed by its close deadline, is handed to
the nearest active officer above its assigned cell (a grid officer there, else a reviewer), one
escalation level up, and the deadline it missed restarts from that deadline (from now if it
was missed long ago: ``envgrid_cloud.decision_time``). At the top, with nobody
above, it is recorded 'overdue' once for that deadline and left where it is. Time is whatever
``now`` says, so tests move it; concurrent sweeps are safe: one takes an advisory lock and the
others return at once, and cases being moved by a person are skipped until the next sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

from envgrid_cloud.cases.deadlines import ack_due, close_due
from envgrid_cloud.cases.model import CaseState, Role, Severity
from envgrid_cloud.cases.notify import notify
from envgrid_cloud.cases.records import SYSTEM, Row, find_officer, record_event, update_case
from envgrid_cloud.cases.sql import load
from envgrid_cloud.decision_time import decided_at

# One sweeper at a time across processes (pg_try_advisory_xact_lock key: "envgrid-escalate").
_LOCK_KEY = 0x656E_6573_6361_6C61
BATCH = 500  # cases locked per query; a sweep loops until none is left
ESCALATE_TO = (Role.GRID_OFFICER.value, Role.REVIEWER.value)
NOT_ACKNOWLEDGED = "not_acknowledged"
NOT_CLOSED = "not_closed"


@dataclass(frozen=True, slots=True)
class Escalation:
    """One case that went up a level ('escalated'), or had nowhere to go ('overdue')."""

    case_id: int
    action: str  # 'escalated' or 'overdue'
    reasons: tuple[str, ...]  # not_acknowledged, not_closed
    level: int  # escalation level afterwards
    from_officer: str | None
    to_officer: str | None  # None when overdue at the top


def escalate_overdue(conn: psycopg.Connection[Any], now: datetime) -> list[Escalation]:
    """Escalate every case past a deadline at ``now``, in one transaction; what was done.

    Returns an empty list at once if another process is sweeping.
    """
    done: list[Escalation] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        locked = cur.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok", [_LOCK_KEY]).fetchone()
        if not locked or not locked["ok"]:
            return done
        while True:
            rows = cur.execute(load("overdue_cases"), {"now": now, "limit": BATCH}).fetchall()
            done.extend(_escalate(cur, row, now) for row in rows)
            # Each case handled gets a new deadline or an 'overdue' event, so it is not found
            # again: a short batch means none is left.
            if len(rows) < BATCH:
                return done


def _why(reasons: list[str], case: Row) -> str:
    parts = []
    if NOT_ACKNOWLEDGED in reasons:
        parts.append(f"not acknowledged by {case['ack_due_at'].isoformat()}")
    if NOT_CLOSED in reasons:
        parts.append(f"not closed by {case['close_due_at'].isoformat()}")
    return "; ".join(parts)


def _escalate(cur: psycopg.Cursor[DictRow], case: Row, now: datetime) -> Escalation:
    reasons = [
        reason
        for reason, missed in (
            (NOT_ACKNOWLEDGED, case["ack_missed"]),
            (NOT_CLOSED, case["close_missed"]),
        )
        if missed
    ]
    # Dated at the deadline it missed (see envgrid_cloud.decision_time), not when a sweep
    # noticed: the next deadline runs from there, and a replay escalates at the same instant.
    missed_at = min(
        case["ack_due_at"] if reason == NOT_ACKNOWLEDGED else case["close_due_at"]
        for reason in reasons
    )
    now = decided_at(missed_at, now)
    # An unassigned case (no grid officer was found) goes to the nearest officer of any kind.
    assigned = case["assigned_cell_id"]
    target = find_officer(cur, assigned or case["site_cell_id"], ESCALATE_TO, above=bool(assigned))
    state = CaseState(case["state"])
    if target is None:
        return _overdue(cur, case, reasons, now)
    severity = Severity(case["severity"])
    new_state = CaseState.DISPATCHED if state is CaseState.RAISED else state
    level = case["escalation_level"] + 1
    row = update_case(
        cur,
        case["id"],
        new_state,
        now,
        assignee_id=target["id"],
        assigned_cell_id=target["cell_id"],
        ack_due_at=ack_due(severity, now) if NOT_ACKNOWLEDGED in reasons else None,
        close_due_at=close_due(severity, now) if NOT_CLOSED in reasons else None,
        escalation_level=level,
    )
    record_event(
        cur,
        case["id"],
        now,
        SYSTEM,
        "escalated",
        from_state=state,
        to_state=new_state,
        notes=_why(reasons, case),
        detail={
            "reasons": reasons,
            "level": level,
            "from_officer": case["assignee_id"],
            "to_officer": target["id"],
            "from_cell": assigned,
            "to_cell": target["cell_id"],
        },
    )
    notify(cur, row, "escalated", reasons=reasons)
    return Escalation(
        case["id"], "escalated", tuple(reasons), level, case["assignee_id"], target["id"]
    )


def _overdue(
    cur: psycopg.Cursor[DictRow], case: Row, reasons: list[str], now: datetime
) -> Escalation:
    """Nobody above: record the missed deadlines once (the sweep's query skips them after)."""
    detail: dict[str, Any] = {"reasons": reasons, "level": case["escalation_level"]}
    if NOT_ACKNOWLEDGED in reasons:
        detail["ack_due_at"] = case["ack_due_at"].isoformat()
    if NOT_CLOSED in reasons:
        detail["close_due_at"] = case["close_due_at"].isoformat()
    record_event(
        cur,
        case["id"],
        now,
        SYSTEM,
        "overdue",
        from_state=case["state"],
        to_state=case["state"],
        notes=_why(reasons, case) + "; nobody above to escalate to",
        detail=detail,
    )
    notify(cur, case, "overdue", reasons=reasons)
    return Escalation(
        case["id"], "overdue", tuple(reasons), case["escalation_level"], case["assignee_id"], None
    )
