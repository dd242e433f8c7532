"""Recording a worker's counters and the gateways' reported statuses where operators look."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from envgrid_cloud.ingest.stats import IngestStats
from envgrid_cloud.sqlfiles import loader
from envgrid_common.messages import GatewayStatus

log = logging.getLogger("envgrid.ingest.heartbeat")

# What acknowledges a gateway status once it is stored: (connection generation, packet id).
AckToken = tuple[int, int]


_sql = loader("envgrid_cloud.ingest.sql")
_UPSERT_WORKER = _sql("upsert_worker")
_UPSERT_GATEWAY = _sql("upsert_gateway")


class Heartbeat:
    """Keeps the newest gateway statuses and writes them, with the worker's stats, on ``beat``."""

    def __init__(self, database_url: str, client_id: str) -> None:
        self._database_url = database_url
        self._client_id = client_id
        self._started_at = datetime.now(UTC)
        self._lock = threading.Lock()
        # Newest status per gateway, and the MQTT ids to acknowledge once it is stored.
        self._gateways: dict[str, GatewayStatus] = {}
        self._unacked: list[AckToken] = []
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._failing = False

    def gateway_status(self, gateway_id: str, payload: bytes, token: AckToken | None) -> str | None:
        """Remember a gateway's status; the reason it is refused, if it is."""
        try:
            status = GatewayStatus.model_validate_json(payload)
        except ValidationError as error:
            return f"gateway status: {error.error_count()} error(s): {error.errors()[0]['msg']}"
        with self._lock:
            self._keep_newer(gateway_id, status)
            if token is not None:
                self._unacked.append(token)
        return None

    def beat(self, stats: IngestStats) -> list[AckToken]:
        """Write the stats and pending gateway statuses; return what is now safe to acknowledge."""
        with self._lock:
            gateways, self._gateways = self._gateways, {}
            unacked, self._unacked = self._unacked, []
        try:
            conn = self._connection()
            with conn.transaction():
                conn.execute(_UPSERT_WORKER, self._worker_row(stats))
                for gateway_id, status in gateways.items():
                    conn.execute(
                        _UPSERT_GATEWAY,
                        {
                            "id": gateway_id,
                            "state": status.state.value,
                            "counters": Jsonb(status.counters),
                            "reported_at": status.ts,
                        },
                    )
        except psycopg.Error as error:
            if not self._failing:
                log.warning("%s: cannot record status: %s", self._client_id, error)
            self._failing = True
            self._close()
            with self._lock:  # keep them for the next beat
                for gateway_id, status in gateways.items():
                    self._keep_newer(gateway_id, status)
                self._unacked = unacked + self._unacked
            return []
        self._failing = False
        return unacked

    def _keep_newer(self, gateway_id: str, status: GatewayStatus) -> None:
        # Retained statuses come again and out of order: a report never replaces a newer one.
        held = self._gateways.get(gateway_id)
        if held is None or held.ts is None or status.ts is None or status.ts >= held.ts:
            self._gateways[gateway_id] = status

    def close(self) -> None:
        """Close the database connection."""
        self._close()

    def _worker_row(self, stats: IngestStats) -> dict[str, object]:
        return {
            "client_id": self._client_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "received": stats.received,
            "stored": stats.stored,
            "duplicates": stats.duplicates,
            "dead_lettered": stats.dead_lettered,
            "batches": stats.batches,
            "lag_s": stats.lag_s,
            "last_commit_at": stats.last_commit_at,
            "started_at": self._started_at,
            "state": stats.state,
            "reason": stats.reason,
            "held": stats.held,
            "reconnects": stats.reconnects,
            "last_received_at": stats.last_received_at,
        }

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._database_url,
                autocommit=True,
                connect_timeout=5,
                application_name=f"{self._client_id}-heartbeat",
            )
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
