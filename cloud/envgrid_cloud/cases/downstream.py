"""Joint prevention along rivers (上下游联防联控): a water case is told to townships downstream."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import DictRow

from envgrid_cloud.cases.records import SYSTEM, Row, record_event
from envgrid_cloud.cases.sql import load


def notify_downstream(cur: psycopg.Cursor[DictRow], case: Row, now: datetime) -> list[str]:
    """Note ``case`` for every other township downstream of its site; the townships told.

    Only a water-body site has a downstream (the SQL checks); one 'notified_downstream' event
    lists the townships and why each was told.
    """
    rows = cur.execute(
        load("notify_downstream"),
        {
            "case_id": case["id"],
            "site_id": case["site_id"],
            "township_id": case["township_id"],
            "now": now,
        },
    ).fetchall()
    townships = sorted(row["township_id"] for row in rows)
    if townships:
        record_event(
            cur,
            case["id"],
            now,
            SYSTEM,
            "notified_downstream",
            detail={
                "townships": townships,
                "reasons": {row["township_id"]: row["reason"] for row in rows},
            },
        )
    return townships
