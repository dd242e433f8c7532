"""Helpers for the ingest's integration tests: a registry, a QoS 1 publisher, database probes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg

from envgrid_cloud.ingest.worker import IngestWorker
from envgrid_cloud.registry.store import upsert_registry
from envgrid_cloud.settings import CloudSettings
from envgrid_common.mqtt import BrokerAddress, check_publish, connect, new_client
from envgrid_common.registry import GridCell, GridLevel, Node, Registry, Site, SiteCategory
from envgrid_common.topics import Topics

NODES = ("ing-a", "ing-b", "ing-c")
BASE_TS = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def ingest_settings(
    database_url: str, mqtt_url: str, topics: Topics, **extra: Any
) -> CloudSettings:
    """Settings for a test worker: its own client id (so its own session) and topic root."""
    return CloudSettings(
        database_url=database_url,
        mqtt_url=mqtt_url,
        topic_root=topics.root,
        ingest_client_id=extra.pop("ingest_client_id", f"t-ingest-{uuid.uuid4().hex[:8]}"),
        ingest_batch_interval_ms=extra.pop("ingest_batch_interval_ms", 20),
        # Long enough for restarts within a test; short, so the machine's broker forgets us.
        session_expiry_s=extra.pop("session_expiry_s", 120),
        **extra,
    )


def seed_nodes(database_url: str, nodes: Iterable[str] = NODES) -> None:
    """A county, a township, one site per node, and the nodes."""
    nodes = tuple(nodes)
    cells = (
        GridCell(id="c", level=GridLevel.COUNTY, name="县"),
        GridCell(id="t", level=GridLevel.TOWNSHIP, name="乡镇", parent_id="c"),
    )
    sites = tuple(
        Site(id=f"s-{n}", name=n, category=SiteCategory.WATER_BODY, cell_id="t") for n in nodes
    )
    registry = Registry(
        cells=cells, sites=sites, nodes=tuple(Node(id=n, site_id=f"s-{n}") for n in nodes)
    )
    with psycopg.connect(database_url) as conn:
        upsert_registry(conn, registry)


def reading(seq: int, **values: float) -> bytes:
    """A valid reading of ``seq``, one second apart from the previous."""
    ts = (BASE_TS + timedelta(seconds=seq)).isoformat()
    return orjson.dumps({"seq": seq, "ts": ts, "values": values or {"cod": 10.0 + seq}})


class Publisher:
    """A plain paho client publishing at QoS 1 and waiting for the broker's PUBACKs."""

    def __init__(self, mqtt_url: str) -> None:
        address = BrokerAddress.parse(mqtt_url)
        self.client = new_client(f"t-pub-{uuid.uuid4().hex[:8]}", address, max_inflight=100)
        connect(self.client, address, background=False)
        self.client.loop_start()
        self._pending: list[mqtt.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Queue one QoS 1 message."""
        self._pending.append(
            check_publish(self.client.publish(topic, payload, qos=1, retain=retain))
        )

    def flush(self, timeout_s: float = 15.0) -> None:
        """Wait until the broker has acknowledged everything published."""
        for info in self._pending:
            info.wait_for_publish(timeout_s)
            assert info.is_published()
        self._pending.clear()

    def close(self) -> None:
        """Flush and disconnect."""
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def publisher(mqtt_url: str) -> Iterator[Publisher]:
    """A connected :class:`Publisher`, closed afterwards."""
    pub = Publisher(mqtt_url)
    try:
        yield pub
    finally:
        pub.close()


@contextmanager
def running(settings: CloudSettings, index: int = 0) -> Iterator[IngestWorker]:
    """A started, subscribed worker, stopped afterwards."""
    worker = IngestWorker(settings, index).start()
    try:
        assert worker.wait_subscribed(10), "worker did not subscribe"
        yield worker
    finally:
        worker.stop()


def scalar(database_url: str, sql: str, *params: object) -> Any:
    """The first column of the first row."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def rows(database_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Every row."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def count(database_url: str, table: str) -> int:
    """Rows in ``table``."""
    return int(scalar(database_url, f"SELECT count(*) FROM {table}"))
