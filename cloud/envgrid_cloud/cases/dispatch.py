"""Handing a case to an officer (交办): automatically when raised, or by a reviewer."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import DictRow

from envgrid_cloud.cases.deadlines import ack_due, close_due
from envgrid_cloud.cases.model import CaseState, Role, Severity
from envgrid_cloud.cases.records import Row, find_officer, update_case


def nearest_grid_officer(cur: psycopg.Cursor[DictRow], site_cell_id: str) -> Row | None:
    """The active grid officer of the site's cell, or of the nearest cell above that has one."""
    return find_officer(cur, site_cell_id, [Role.GRID_OFFICER.value], above=False)


def assign(
    cur: psycopg.Cursor[DictRow], case: Row, person: Row, state: CaseState, now: datetime
) -> Row:
    """Give ``case`` to ``person`` in ``state``; the acknowledge clock starts now.

    A close deadline already missed restarts too: the new officer is not to inherit a case that
    escalates away from them at the next sweep.
    """
    severity = Severity(case["severity"])
    missed = case["close_due_at"] is not None and case["close_due_at"] <= now
    return update_case(
        cur,
        case["id"],
        state,
        now,
        assignee_id=person["id"],
        assigned_cell_id=person["cell_id"],
        ack_due_at=ack_due(severity, now),
        close_due_at=close_due(severity, now) if missed else None,
    )
