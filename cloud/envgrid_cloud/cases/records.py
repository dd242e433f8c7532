"""Case rows and their events: the reads and writes every part of the loop shares."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

from envgrid_cloud.cases.errors import NotFound
from envgrid_cloud.cases.model import CaseState
from envgrid_cloud.cases.sql import load

Row = dict[str, Any]
SYSTEM = "system"  # the actor of what no person did (raising, auto-dispatch, escalation)


def dict_cursor(cur: psycopg.Cursor[Any]) -> psycopg.Cursor[DictRow]:
    """A cursor on ``cur``'s connection (same transaction) that returns rows as dicts."""
    return cur.connection.cursor(row_factory=dict_row)


def lock_case(cur: psycopg.Cursor[DictRow], case_id: int) -> Row:
    """The case with its site's cell, locked until the transaction ends."""
    row = cur.execute(load("lock_case"), {"id": case_id}).fetchone()
    if row is None:
        raise NotFound(f"no case with id {case_id}")
    return row


def case_row(cur: psycopg.Cursor[DictRow], case_id: int) -> Row:
    """The case as stored."""
    row = cur.execute(load("case_row"), {"id": case_id}).fetchone()
    if row is None:
        raise NotFound(f"no case with id {case_id}")
    return row


def update_case(
    cur: psycopg.Cursor[DictRow],
    case_id: int,
    state: CaseState,
    now: datetime,
    *,
    assignee_id: str | None = None,
    assigned_cell_id: str | None = None,
    ack_due_at: datetime | None = None,
    close_due_at: datetime | None = None,
    closed_at: datetime | None = None,
    escalation_level: int | None = None,
) -> Row:
    """Set the case's state and whichever of the other fields are given; the new row."""
    row = cur.execute(
        load("update_case"),
        {
            "id": case_id,
            "state": state.value,
            "now": now,
            "assignee_id": assignee_id,
            "assigned_cell_id": assigned_cell_id,
            "ack_due_at": ack_due_at,
            "close_due_at": close_due_at,
            "closed_at": closed_at,
            "escalation_level": escalation_level,
        },
    ).fetchone()
    assert row is not None, f"case {case_id} vanished while locked"
    return row


def record_event(
    cur: psycopg.Cursor[DictRow],
    case_id: int,
    at: datetime,
    actor: str,
    action: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    notes: str | None = None,
    attachments: Sequence[dict[str, Any]] = (),
    detail: dict[str, Any] | None = None,
) -> int:
    """Add one step to the case's file; its event id."""
    row = cur.execute(
        load("record_event"),
        {
            "case_id": case_id,
            "at": at,
            "actor": actor,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "notes": notes,
            "attachments": Jsonb(list(attachments)),
            "detail": Jsonb(detail or {}),
        },
    ).fetchone()
    assert row is not None
    event_id: int = row["id"]
    return event_id


def site_place(cur: psycopg.Cursor[DictRow], site_id: str) -> Row:
    """A site's cell and category."""
    row = cur.execute(load("site_place"), {"site_id": site_id}).fetchone()
    if row is None:
        raise NotFound(f"no site with id {site_id!r}")
    return row


def officer(cur: psycopg.Cursor[DictRow], officer_id: str) -> Row | None:
    """An officer (active or not), if there is one with that id."""
    return cur.execute(load("officer"), {"id": officer_id}).fetchone()


def find_officer(
    cur: psycopg.Cursor[DictRow], cell_id: str, roles: Sequence[str], *, above: bool
) -> Row | None:
    """The nearest active officer of ``roles`` walking up from ``cell_id`` (or its parent)."""
    return cur.execute(
        load("find_officer"),
        {"cell_id": cell_id, "roles": list(roles), "min_depth": 1 if above else 0},
    ).fetchone()


def within(cur: psycopg.Cursor[DictRow], cell_id: str, area_id: str) -> bool:
    """Whether ``cell_id`` is ``area_id`` or lies below it."""
    row = cur.execute(load("within"), {"cell_id": cell_id, "area_id": area_id}).fetchone()
    return bool(row and row["within"])
