"""Reminders (催办): an unacknowledged case is sent again to its assignee every N minutes.

N depends on the severity (``ENVGRID_REMINDER_*_MIN``; 0: never). The clock starts when the
case was handed to its assignee (raised and dispatched, dispatched by a reviewer, reassigned,
escalated) and restarts at each reminder; a new assignee starts afresh. Reminders stop once the
case is acknowledged (one still queued then is dropped unsent) and are not queued while a
silence holds the case. Escalation up the grid goes on beside them. A sweep, like escalation:
``run(conn, now)`` with time as the caller says, one process at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from envgrid_cloud.notify.outbox import enqueue
from envgrid_cloud.notify.sql import load
from envgrid_cloud.settings import CloudSettings

INTERVAL_S = 30.0  # how often the API process looks for cases to remind
BATCH = 500
# One reminder sweep at a time across processes (pg_try_advisory_xact_lock key: "envremnd").
_LOCK_KEY = 0x656E_7672_656D_6E64


class Reminders:
    """The reminder sweep: queues a reminder for each case due one; the cases reminded."""

    def __init__(self, every_min: Mapping[str, int]) -> None:
        self._every_s = {f"{s}_s": 60.0 * every_min.get(s, 0) for s in _SEVERITIES}

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> Reminders:
        """With the intervals of ``ENVGRID_REMINDER_*_MIN``."""
        return cls(
            {
                "critical": settings.reminder_critical_min,
                "high": settings.reminder_high_min,
                "medium": settings.reminder_medium_min,
                "low": settings.reminder_low_min,
            }
        )

    def __call__(self, conn: psycopg.Connection[Any], now: datetime) -> list[int]:
        """Queue the reminders due at ``now`` in one transaction; the cases reminded (none if
        another process is sweeping)."""
        reminded: list[int] = []
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            locked = cur.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok", [_LOCK_KEY])
            row = locked.fetchone()
            if not row or not row["ok"]:
                return reminded
            while True:
                due = cur.execute(
                    load("reminders_due"), {**self._every_s, "now": now, "limit": BATCH}
                ).fetchall()
                for case in due:
                    sent = case["sent"] + 1
                    enqueue(cur, case["id"], "reminder", {"count": sent}, now=now)
                    cur.execute(
                        load("reminder_sent"),
                        {
                            "case_id": case["id"],
                            "assignee_id": case["assignee_id"],
                            "now": now,
                            "sent": sent,
                        },
                    )
                    reminded.append(case["id"])
                if len(due) < BATCH:
                    return reminded


_SEVERITIES = ("critical", "high", "medium", "low")
