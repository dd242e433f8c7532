"""Cases from rules (inside the ingest's own transaction) and from officers on the spot.

``raise_or_update`` opens the one case of a (site, rule) or counts a repeat on it. Repeats do
not each add an event (the file stays readable): they update occurrences, the latest and the
peak value. Events are recorded for what a reader needs: raised, dispatched, notified
downstream, condition cleared, recurred (a breach after the condition had cleared), severity
raised. Every change is announced with ``pg_notify('envgrid_cases', …)`` on commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

from envgrid_cloud.cases.attachments import clean_attachments
from envgrid_cloud.cases.deadlines import ack_due, close_due
from envgrid_cloud.cases.dispatch import assign, nearest_grid_officer
from envgrid_cloud.cases.downstream import notify_downstream
from envgrid_cloud.cases.errors import NotFound, NotPermitted
from envgrid_cloud.cases.model import Breach, CaseChange, CaseState, Cleared, Severity
from envgrid_cloud.cases.notify import notify
from envgrid_cloud.cases.people import active_officer, covers, describe
from envgrid_cloud.cases.records import (
    SYSTEM,
    Row,
    case_row,
    dict_cursor,
    record_event,
    site_place,
)
from envgrid_cloud.cases.sql import load
from envgrid_cloud.decision_time import decided_at

# Severities from least to most urgent: array positions in SQL, indexes here.
RANKS = [Severity.LOW.value, Severity.MEDIUM.value, Severity.HIGH.value, Severity.CRITICAL.value]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def raise_or_update(cur: psycopg.Cursor[Any], breach: Breach, now: datetime) -> CaseChange:
    """Open the (site, rule) case for ``breach``, or count it on the open one.

    Runs in ``cur``'s transaction and never commits. A new case is dispatched by 'system' to the
    nearest active grid officer at or above the site's cell (it stays raised if there is none),
    with deadlines from its severity; a new water-body case notifies the townships downstream.
    For a rule whose breach is a value too low, put ``"direction": "below"`` in its detail: the
    peak is then the lowest value. Raises ``NotFound`` for an unknown site.
    """
    with dict_cursor(cur) as c:
        return _raise_or_update(c, breach, now)


def _raise_or_update(c: psycopg.Cursor[DictRow], breach: Breach, now: datetime) -> CaseChange:
    # Dated by the data (see envgrid_cloud.decision_time): a case opens, or its severity rises,
    # at the source time of the run's first breach.
    now = decided_at(breach.first_at or breach.at, now)
    key = {"site_id": breach.site_id, "rule_id": breach.rule_id}
    prior = c.execute(load("open_case"), key).fetchone()
    row = c.execute(
        load("upsert_case"),
        {
            **key,
            "node_id": breach.node_id,
            "metric": breach.metric,
            "severity": breach.severity.value,
            "rank": RANKS.index(breach.severity.value) + 1,
            "ranks": RANKS,
            "title": breach.title,
            "detail": Jsonb(breach.detail),
            "source": "rule",
            "at": breach.at,
            "value": breach.value,
            "first_at": breach.first_at or breach.at,
            "first_value": breach.first_value if breach.first_at else breach.value,
            "peak": breach.peak if breach.peak is not None else breach.value,
            "occurrences": breach.occurrences,
            "now": now,
            "ack_due_at": ack_due(breach.severity, now),
            "close_due_at": close_due(breach.severity, now),
        },
    ).fetchone()
    if row is None:
        raise NotFound(f"no site with id {breach.site_id!r}")
    if row.pop("inserted"):
        raised = {
            "source": "rule",
            "rule_id": breach.rule_id,
            "node_id": breach.node_id,
            "metric": breach.metric,
            "value": breach.value,
            "seen_at": breach.at.isoformat(),
        }
        return _opened(c, row, now, SYSTEM, raised)
    event = "repeated"
    if prior is not None:
        event = _note_repeat(c, prior, row, breach, now)
    notify(c, row, event)
    return CaseChange(
        row["id"], False, CaseState(row["state"]), row["occurrences"], row["assignee_id"]
    )


def _note_repeat(
    cur: psycopg.Cursor[DictRow], prior: Row, row: Row, breach: Breach, now: datetime
) -> str:
    """Record what a repeat changed that a reader must see; the event name to announce."""
    event = "repeated"
    if row["severity"] != prior["severity"]:
        event = "severity_raised"
        record_event(
            cur,
            row["id"],
            now,
            SYSTEM,
            event,
            detail={"from": prior["severity"], "to": row["severity"], "value": breach.value},
        )
    if prior["cleared_at"] is not None and row["cleared_at"] is None:
        event = "recurred"
        record_event(
            cur,
            row["id"],
            now,
            SYSTEM,
            event,
            detail={
                "cleared_at": prior["cleared_at"].isoformat(),
                "seen_at": breach.at.isoformat(),
                "value": breach.value,
            },
        )
    return event


def _opened(
    cur: psycopg.Cursor[DictRow],
    row: Row,
    now: datetime,
    actor: str,
    detail: dict[str, Any],
    notes: str | None = None,
    attachments: Sequence[dict[str, Any]] = (),
) -> CaseChange:
    """A case just inserted: its file starts, it is dispatched, the river downstream is told."""
    site = site_place(cur, row["site_id"])
    officer = nearest_grid_officer(cur, site["cell_id"])
    if officer is None:
        detail = {**detail, "undispatched": f"no active grid officer at or above {site['cell_id']}"}
    record_event(
        cur,
        row["id"],
        now,
        actor,
        "raised",
        to_state=CaseState.RAISED,
        notes=notes,
        attachments=attachments,
        detail=detail,
    )
    if officer is not None:
        row = assign(cur, row, officer, CaseState.DISPATCHED, now)
        record_event(
            cur,
            row["id"],
            now,
            SYSTEM,
            "dispatched",
            from_state=CaseState.RAISED,
            to_state=CaseState.DISPATCHED,
            detail={
                "assignee_id": officer["id"],
                "cell_id": officer["cell_id"],
                "ack_due_at": _iso(row["ack_due_at"]),
                "close_due_at": _iso(row["close_due_at"]),
            },
        )
    townships = notify_downstream(cur, row, now)
    extra = {"notified_townships": townships} if townships else {}
    notify(cur, row, "raised", **extra)
    return CaseChange(
        row["id"],
        True,
        CaseState(row["state"]),
        row["occurrences"],
        row["assignee_id"],
        tuple(townships),
    )


def record_cleared(cur: psycopg.Cursor[Any], cleared: Cleared, now: datetime) -> int | None:
    """Note on the open (site, rule) case that its condition cleared; the case's id.

    The case stays open: only a person closes it. None when there is no open case, or it had
    already cleared (nothing is recorded twice).
    """
    with dict_cursor(cur) as c:
        return _record_cleared(c, cleared, now)


def _record_cleared(c: psycopg.Cursor[DictRow], cleared: Cleared, now: datetime) -> int | None:
    now = decided_at(cleared.at, now)
    row = c.execute(
        load("clear_case"),
        {"site_id": cleared.site_id, "rule_id": cleared.rule_id, "at": cleared.at, "now": now},
    ).fetchone()
    if row is None:
        return None
    record_event(
        c,
        row["id"],
        now,
        SYSTEM,
        "condition_cleared",
        detail={"cleared_at": cleared.at.isoformat(), "node_id": cleared.node_id},
    )
    notify(c, row, "condition_cleared")
    case_id: int = row["id"]
    return case_id


def report_problem(
    conn: psycopg.Connection[Any],
    site_id: str,
    actor_id: str,
    title: str,
    severity: Severity,
    now: datetime,
    *,
    notes: str | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    node_id: str | None = None,
    metric: str | None = None,
    value: float | None = None,
) -> Row:
    """A case an officer found on the spot (主动发现, source 'officer'); the new case.

    The officer must be active and the site within their area. The case is dispatched like any
    other, so the officer who found it may well be the one to acknowledge it.
    """
    stored = clean_attachments(attachments)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        actor = active_officer(cur, actor_id)
        site = site_place(cur, site_id)
        if not covers(cur, actor, site["cell_id"]):
            raise NotPermitted(
                f"{describe(actor)} may not report a problem at site {site_id!r}: it lies in "
                f"cell {site['cell_id']!r}, outside their area"
            )
        row = cur.execute(
            load("insert_officer_case"),
            {
                "site_id": site_id,
                "node_id": node_id,
                "metric": metric,
                "severity": severity.value,
                "title": title,
                "detail": Jsonb({"reported_by": actor_id}),
                "value": value,
                "now": now,
                "ack_due_at": ack_due(severity, now),
                "close_due_at": close_due(severity, now),
            },
        ).fetchone()
        assert row is not None, "the site was just found"
        change = _opened(
            cur, row, now, actor_id, {"source": "officer"}, notes=notes, attachments=stored
        )
        return case_row(cur, change.case_id)
