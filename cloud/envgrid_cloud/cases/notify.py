"""A case changed: tell listeners (the live desk, delivery) with ``pg_notify`` on commit, and
queue what phones are to hear of it (``envgrid_cloud.notify.outbox``) in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import DictRow

from envgrid_cloud.notify.outbox import enqueue
from envgrid_common.clock import to_shanghai

CHANNEL = "envgrid_cases"
# PostgreSQL refuses a payload of 8000 bytes or more.
MAX_PAYLOAD = 7900
TITLE_MAX = 200

_FIELDS = (
    "id", "site_id", "rule_id", "township_id", "state", "severity", "title", "source",
    "occurrences", "last_value", "peak_value", "assignee_id", "assigned_cell_id",
    "escalation_level", "cleared_at", "raised_at", "updated_at",
)  # fmt: skip


def _plain(value: Any) -> Any:
    return to_shanghai(value).isoformat() if isinstance(value, datetime) else value


def summary(row: dict[str, Any], event: str, **extra: Any) -> dict[str, Any]:
    """The case as listeners see it: its main fields (times on Shanghai's clock) and the event."""
    body = {name: _plain(row.get(name)) for name in _FIELDS}
    body["title"] = str(body["title"])[:TITLE_MAX]
    body["event"] = event
    body.update(extra)
    return body


def encode(body: dict[str, Any]) -> str:
    """``body`` as compact JSON that fits a NOTIFY; long township lists are cut, and marked so."""
    text = orjson.dumps(body).decode()
    townships = list(body.get("notified_townships", ()))
    while len(text.encode()) > MAX_PAYLOAD and townships:
        townships = townships[: len(townships) // 2]
        text = orjson.dumps({**body, "notified_townships": townships, "truncated": True}).decode()
    return text


def notify(cur: psycopg.Cursor[DictRow], row: dict[str, Any], event: str, **extra: Any) -> None:
    """Queue the case's summary on ``envgrid_cases``, and its notifications in the outbox; both
    go when the transaction commits."""
    cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, encode(summary(row, event, **extra))))
    enqueue(cur, row["id"], event, extra)
