"""Writing one batch into PostgreSQL in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import set_json_dumps

from envgrid_cloud.ingest.batch import DeadLetterRow, DetectionRow, ReadingRow, StatusRow
from envgrid_cloud.sqlfiles import loader

_sql = loader("envgrid_cloud.ingest.sql")


_STAGING = _sql("staging")
_COPY = _sql("copy_staging")
_INSERT_READINGS = _sql("insert_readings")
_UPSERT_LATEST = _sql("upsert_latest")
_INSERT_DEAD_LETTER = _sql("insert_dead_letter")
_UPDATE_STATUS = _sql("update_status")
_INSERT_DETECTION = _sql("insert_detection")
_TOUCH_LIVE = _sql("touch_live")
_KNOWN_NODES = _sql("known_nodes")
# Binary COPY: about 3 µs a row in the writer thread, against 5 µs for text (measured).
_STAGING_TYPES = ["text", "timestamptz", "int8", "jsonb", "jsonb", "bool"]


def _as_is(document: object) -> bytes:
    # vals and flags arrive as JSON bytes already (orjson, on the hot path); anything else
    # (rule states, case details, from the rules in the same transaction) is dumped here.
    return document if isinstance(document, bytes) else orjson.dumps(document)


@dataclass(frozen=True, slots=True)
class Written:
    """What one committed batch changed."""

    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    statuses: int = 0
    detections: int = 0


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A node's status that changed in this batch (not one merely repeated)."""

    node_id: str
    previous: str
    state: str
    ts: datetime


@dataclass(slots=True)
class Fresh:
    """What a batch stored for the first time: the rules judge these, and only these."""

    readings: list[ReadingRow] = field(default_factory=list)
    detections: list[DetectionRow] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.readings or self.detections or self.status_changes)


class Judge(Protocol):
    """Runs the rules on what a batch stored, inside the batch's transaction."""

    def judge(self, cur: psycopg.Cursor[Any], fresh: Fresh) -> None:
        """Update rule state and cases for ``fresh``; raising rolls the whole batch back."""
        ...


class BatchStore:
    """One database connection, (re)opened on demand, that commits batches."""

    def __init__(
        self,
        database_url: str,
        application_name: str = "envgrid-ingest",
        judge: Judge | None = None,
    ) -> None:
        self._database_url = database_url
        self._application_name = application_name
        self._judge = judge
        self._conn: psycopg.Connection[TupleRow] | None = None

    def known_nodes(self) -> frozenset[str]:
        """Every node id in the registry."""
        return frozenset(str(row[0]) for row in self._connection().execute(_KNOWN_NODES))

    def write(
        self,
        readings: Sequence[ReadingRow],
        statuses: Sequence[StatusRow],
        dead_letters: Sequence[DeadLetterRow],
        detections: Sequence[DetectionRow] = (),
    ) -> Written:
        """Commit everything in one transaction; raise (and change nothing) on any error."""
        conn = self._connection()
        fresh = Fresh()
        stored = dead = applied = 0
        with conn.transaction(), conn.cursor() as cur:
            if readings:
                stored = self._write_readings(cur, readings, fresh)
            for row in detections:
                cur.execute(_INSERT_DETECTION, row)
                if cur.fetchone() is not None:
                    fresh.detections.append(row)
            if dead_letters:
                cur.executemany(_INSERT_DEAD_LETTER, dead_letters)
                dead = cur.rowcount
            for node_id, state, ts in statuses:
                cur.execute(_UPDATE_STATUS, {"node_id": node_id, "state": state, "ts": ts})
                updated = cur.fetchone()
                if updated is not None:
                    applied += 1
                    if updated[0] != state:
                        fresh.status_changes.append(StatusChange(node_id, updated[0], state, ts))
            if self._judge is not None and fresh:
                self._judge.judge(cur, fresh)
        return Written(stored, len(readings) - stored, dead, applied, len(fresh.detections))

    def _write_readings(
        self, cur: psycopg.Cursor[TupleRow], readings: Sequence[ReadingRow], fresh: Fresh
    ) -> int:
        with cur.copy(_COPY) as copy:
            copy.set_types(_STAGING_TYPES)
            for row in readings:
                copy.write_row(row)
        cur.execute(_INSERT_READINGS)
        inserted = {(node_id, ts, seq) for node_id, ts, seq in cur.fetchall()}
        cur.execute(_UPSERT_LATEST)
        live = sorted({row[0] for row in readings if not row[5]})
        if live:
            cur.execute(_TOUCH_LIVE, {"node_ids": live})
        if len(inserted) == len(readings):
            fresh.readings.extend(readings)
        else:
            fresh.readings.extend(r for r in readings if (r[0], r[1], r[2]) in inserted)
        return len(inserted)

    def close(self) -> None:
        """Drop the connection (after an error, or when stopping)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> psycopg.Connection[TupleRow]:
        conn = self._conn
        if conn is None or conn.closed:
            conn = psycopg.connect(
                self._database_url,
                autocommit=True,
                application_name=self._application_name,
                connect_timeout=10,
                # A dead server or link must fail the batch (to be retried), not hang it.
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
            set_json_dumps(_as_is, context=conn)
            conn.execute(_STAGING)
            self._conn = conn
        return conn
