"""Quiet periods (静默): a silenced site's or rule's notifications wait until the silence ends.

An administrator, or a reviewer within their area, silences a site or a rule (a rule
everywhere, or within a cell's area) until a stated time, with a reason such as maintenance or
known works. Cases are still raised and recorded, and their outbox rows written: they are held
(``held``, naming the silence) instead of sent. When the silence ends or is lifted they are due
again and go, as a digest if there are several, if their case is still open; those of a case
closed meanwhile are dropped. Reminders are not queued for a silenced case.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from envgrid_cloud.notify.sql import load


async def hold_and_release(conn: AsyncConnection[DictRow], now: datetime) -> tuple[int, int]:
    """Hold the pending rows of silenced cases, release the held rows no silence holds any
    more; how many of each."""
    async with conn.transaction():
        released = await conn.execute(load("release"), {"now": now})
        held = await conn.execute(load("hold"), {"now": now})
        return held.rowcount, released.rowcount
