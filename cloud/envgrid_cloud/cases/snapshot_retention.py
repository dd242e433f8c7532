"""Snapshot retention: a sweep deletes old camera snapshots, keeping the evidence still needed.

Snapshots older than ``ENVGRID_SNAPSHOT_RETENTION_DAYS`` go, except those of a case still open
and those of a case dismissed as a false alarm: these are the set the detector is re-evaluated
on (``envgrid cases export-false-alarms``), kept for good unless
``ENVGRID_SNAPSHOT_FALSE_ALARM_RETENTION_DAYS`` says otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from envgrid_cloud.cases.sql import load
from envgrid_cloud.settings import CloudSettings

log = logging.getLogger("envgrid.sweeps")

INTERVAL_S = 3600.0  # retention is counted in days: once an hour is plenty
BATCH = 1000  # snapshots deleted per statement (and per transaction)


@dataclass(frozen=True, slots=True)
class SnapshotRetention:
    """The sweep: ``run(conn, now)`` deletes what is past retention; how many it deleted."""

    retention: timedelta
    false_alarm_retention: timedelta | None = None  # None: false alarms' snapshots are kept

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> SnapshotRetention:
        """The retention the settings ask for."""
        days = settings.snapshot_false_alarm_retention_days
        return cls(
            timedelta(days=settings.snapshot_retention_days),
            timedelta(days=days) if days else None,
        )

    def __call__(self, conn: psycopg.Connection[Any], now: datetime) -> int:
        """Delete in batches, each its own transaction; skip if another process sweeps."""
        params = {
            "before": now - self.retention,
            "false_alarm_before": (
                now - self.false_alarm_retention if self.false_alarm_retention else None
            ),
            "limit": BATCH,
        }
        deleted = 0
        while True:
            with conn.transaction(), conn.cursor() as cur:
                locked = cur.execute(load("snapshot_lock")).fetchone()
                if not locked or not locked[0]:
                    return deleted
                cur.execute(load("snapshot_expire"), params)
                done = cur.rowcount
            deleted += done
            if done < BATCH:
                if deleted:
                    log.info("deleted %d snapshot(s) past retention", deleted)
                return deleted
