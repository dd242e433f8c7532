"""Writing one batch into PostgreSQL in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import set_json_dumps

from envgrid_cloud.ingest.batch import DeadLetterRow, ReadingRow, StatusRow


def _sql(name: str) -> str:
    return resources.files("envgrid_cloud.ingest").joinpath(name).read_text(encoding="utf-8")


_STAGING = _sql("staging.sql")
_COPY = _sql("copy_staging.sql")
_INSERT_READINGS = _sql("insert_readings.sql")
_UPSERT_LATEST = _sql("upsert_latest.sql")
_INSERT_DEAD_LETTER = _sql("insert_dead_letter.sql")
_UPDATE_STATUS = _sql("update_status.sql")
_KNOWN_NODES = _sql("known_nodes.sql")
# Binary COPY: about 3 µs a row in the writer thread, against 5 µs for text (measured).
_STAGING_TYPES = ["text", "timestamptz", "int8", "jsonb", "jsonb", "bool"]


def _as_is(document: bytes) -> bytes:
    return document  # vals and flags arrive as JSON bytes already (orjson, on the hot path)


@dataclass(frozen=True, slots=True)
class Written:
    """What one committed batch changed."""

    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    statuses: int = 0


class BatchStore:
    """One database connection, (re)opened on demand, that commits batches."""

    def __init__(self, database_url: str, application_name: str = "envgrid-ingest") -> None:
        self._database_url = database_url
        self._application_name = application_name
        self._conn: psycopg.Connection[TupleRow] | None = None

    def known_nodes(self) -> frozenset[str]:
        """Every node id in the registry."""
        return frozenset(str(row[0]) for row in self._connection().execute(_KNOWN_NODES))

    def write(
        self,
        readings: Sequence[ReadingRow],
        statuses: Sequence[StatusRow],
        dead_letters: Sequence[DeadLetterRow],
    ) -> Written:
        """Commit everything in one transaction; raise (and change nothing) on any error."""
        conn = self._connection()
        stored = dead = applied = 0
        with conn.transaction(), conn.cursor() as cur:
            if readings:
                with cur.copy(_COPY) as copy:
                    copy.set_types(_STAGING_TYPES)
                    for row in readings:
                        copy.write_row(row)
                cur.execute(_INSERT_READINGS)
                stored = cur.rowcount
                cur.execute(_UPSERT_LATEST)
            if dead_letters:
                cur.executemany(_INSERT_DEAD_LETTER, dead_letters)
                dead = cur.rowcount
            if statuses:
                cur.executemany(
                    _UPDATE_STATUS,
                    [{"node_id": n, "state": state, "ts": ts} for n, state, ts in statuses],
                )
                applied = cur.rowcount
        return Written(stored, len(readings) - stored, dead, applied)

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
