"""Helpers for the ingest's integration tests: a registry, a QoS 1 publisher, database probes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg

from envgrid_cloud.ingest.worker import IngestWorker
from envgrid_cloud.ingest_processes import judge_for
from envgrid_cloud.registry.store import upsert_registry
from envgrid_cloud.settings import CloudSettings
from envgrid_common.registry import GridCell, GridLevel, Node, Registry, Site, SiteCategory
from envgrid_common.topics import Topics
from tests.mqtt_clients import Publisher

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


def publish_rounds(
    pub: Publisher,
    topics: Topics,
    per_node: int,
    payload: Callable[[int], bytes] = reading,
    pace_s: float = 0.0,
) -> None:
    """Publish ``payload(seq)`` of every node for seq 0 to ``per_node - 1``, a round a seq."""
    for seq in range(per_node):
        for node in NODES:
            pub.publish(topics.readings(node), payload(seq))
        if pace_s:
            time.sleep(pace_s)


def publisher(mqtt_url: str) -> Publisher:
    """A QoS 1 publisher for ``with``: connected at once on entry, flushed and closed at exit."""
    return Publisher(mqtt_url, max_inflight=100, background=False)


@contextmanager
def running(settings: CloudSettings, index: int = 0) -> Iterator[IngestWorker]:
    """A started, subscribed worker, stopped afterwards."""
    worker = IngestWorker(settings, index, judge_for(settings)).start()
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
    # ``table`` is one of the tests' own table names, never outside input.
    return int(scalar(database_url, f"SELECT count(*) FROM {table}"))  # noqa: S608
