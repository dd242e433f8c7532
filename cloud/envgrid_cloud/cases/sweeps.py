"""Periodic jobs the API process runs: escalation, and any other module's sweep.

A sweep is a function ``run(conn, now)`` on a synchronous connection, called in a thread at
every multiple of ``interval_s`` (epoch time) with the current UTC time. To add one, append it
to ``SWEEPS`` (the lifespan runs ``app.state.sweeps``, which starts as a copy of it), or set
``app.state.sweeps`` on an app before it starts. A sweep must be safe to run from several
processes at once (take an advisory lock); one that fails is logged and tried again at its next
interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from envgrid_cloud.cases.escalation import escalate_overdue
from envgrid_cloud.cases.pool import SyncPool
from envgrid_common.clock import WallClock, utc_now

log = logging.getLogger("envgrid.sweeps")

ESCALATION_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class Sweep:
    """A job run every ``interval_s`` seconds."""

    name: str
    interval_s: float
    run: Callable[[psycopg.Connection[Any], datetime], object]


ESCALATION = Sweep("escalate overdue cases", ESCALATION_INTERVAL_S, escalate_overdue)

SWEEPS: tuple[Sweep, ...] = (ESCALATION,)


def _once(sweep: Sweep, pool: SyncPool, now: datetime) -> object:
    with pool.connection() as conn:
        return sweep.run(conn, now)


def until_next(interval_s: float, now_s: float) -> float:
    """Seconds from ``now_s`` (epoch) to the next multiple of ``interval_s``: sweeps run on a
    fixed grid (every 30 s at :00 and :30), the one the feed clock's sweeper keeps too."""
    return interval_s - now_s % interval_s


async def run_periodically(sweep: Sweep, pool: SyncPool, clock: WallClock = utc_now) -> None:
    """Run ``sweep`` at every multiple of its interval (epoch time) until cancelled."""
    while True:
        await asyncio.sleep(until_next(sweep.interval_s, clock().timestamp()))
        try:
            await asyncio.to_thread(_once, sweep, pool, clock())
        except Exception:  # a failed sweep (database away, a bug) must not end the loop
            log.exception("sweep %r failed; trying again in %.0fs", sweep.name, sweep.interval_s)
