"""People move cases through the loop: each move checked, locked, recorded and announced."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

from envgrid_cloud.cases.attachments import clean_attachments
from envgrid_cloud.cases.dispatch import assign, nearest_grid_officer
from envgrid_cloud.cases.errors import IllegalMove, Invalid, NotPermitted
from envgrid_cloud.cases.model import Action, CaseState, Role
from envgrid_cloud.cases.notify import notify
from envgrid_cloud.cases.people import active_officer, covers, describe
from envgrid_cloud.cases.records import Row, lock_case, officer, record_event, update_case
from envgrid_cloud.cases.states import MOVES, check

REASON_MAX = 2000


def act(
    conn: psycopg.Connection[Any],
    case_id: int,
    action: Action,
    actor_id: str,
    now: datetime,
    *,
    notes: str | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    reason: str | None = None,
    assignee_id: str | None = None,
) -> Row:
    """Make ``action`` on case ``case_id`` as ``actor_id`` at ``now``; the case afterwards.

    In one transaction of its own (a savepoint if ``conn`` is in one already), with the case row
    locked so concurrent moves happen one after the other, the second judged on the first's
    result. The actor must be an active officer whose role may make the move, and either be
    the assignee, or have the case's site in their area (an admin may act anywhere). Refusals:
    ``NotFound``, ``NotPermitted``, ``IllegalMove``, ``Invalid``; nothing is written then.
    """
    stored = clean_attachments(attachments)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        case = lock_case(cur, case_id)
        actor = active_officer(cur, actor_id)
        before = CaseState(case["state"])
        after = check(before, action, Role(actor["role"]))
        _check_area(cur, case, actor, action)
        detail: dict[str, Any] = {}
        if MOVES[action].needs_reason or (reason and reason.strip()):
            detail["reason"] = _reason(reason, action)
        if MOVES[action].needs_notes and not (notes and notes.strip()):
            raise Invalid(f"{action} needs notes: what to say")
        if action in (Action.DISPATCH, Action.REASSIGN):
            target = _target(cur, case, action, assignee_id)
            detail.update(from_assignee=case["assignee_id"], assignee_id=target["id"])
            updated = assign(cur, case, target, after, now)
            detail["ack_due_at"] = updated["ack_due_at"].isoformat()
        elif action is Action.CLAIM:
            detail.update(from_assignee=case["assignee_id"], assignee_id=actor["id"])
            updated = assign(cur, case, actor, after, now)
        else:
            closed = now if after in (CaseState.CLOSED, CaseState.DISMISSED) else None
            updated = update_case(cur, case_id, after, now, closed_at=closed)
        record_event(
            cur,
            case_id,
            now,
            actor_id,
            action.value,
            from_state=before,
            to_state=after,
            notes=notes,
            attachments=stored,
            detail=detail,
        )
        notify(cur, updated, action.value)
        return updated


def _check_area(cur: psycopg.Cursor[DictRow], case: Row, actor: Row, action: Action) -> None:
    if actor["id"] == case["assignee_id"] or covers(cur, actor, case["site_cell_id"]):
        return
    holder = f"assigned to {case['assignee_id']!r}" if case["assignee_id"] else "unassigned"
    raise NotPermitted(
        f"{describe(actor)} may not {action} case {case['id']}: it is {holder}, and its site "
        f"{case['site_id']!r} lies outside their area"
    )


def _reason(reason: str | None, action: Action) -> str:
    text = (reason or "").strip()
    if not text:
        raise Invalid(f"{action} needs a reason (why it is a false alarm)")
    if len(text) > REASON_MAX:
        raise Invalid(f"the reason is longer than {REASON_MAX} characters")
    return text


def _target(
    cur: psycopg.Cursor[DictRow], case: Row, action: Action, assignee_id: str | None
) -> Row:
    """The officer a dispatch or reassignment hands the case to."""
    if assignee_id is None:
        if MOVES[action].needs_assignee:
            raise Invalid(f"{action} needs assignee_id: the officer to hand the case to")
        found = nearest_grid_officer(cur, case["site_cell_id"])
        if found is None:
            raise IllegalMove(
                f"cannot {action} case {case['id']}: no active grid officer at or above cell "
                f"{case['site_cell_id']!r}; name one with assignee_id"
            )
        return found
    target = officer(cur, assignee_id)
    if target is None or not target["active"]:
        raise Invalid(f"no active officer {assignee_id!r} to hand case {case['id']} to")
    if target["id"] == case["assignee_id"]:
        raise Invalid(f"case {case['id']} is already assigned to {assignee_id!r}")
    if not covers(cur, target, case["site_cell_id"]):
        raise Invalid(
            f"{describe(target)} cannot take case {case['id']}: its site {case['site_id']!r} "
            "lies outside their area"
        )
    return target
