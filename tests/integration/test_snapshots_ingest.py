"""Snapshots through the ingest, from the real broker into the database: once each, the better
one kept, the oversized and the unknown node's dead-lettered while their neighbours are stored."""

from __future__ import annotations

import cv2
import numpy as np

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.topics import Topics
from tests.integration.test_ingest_support import (
    NODES,
    count,
    ingest_settings,
    publisher,
    reading,
    rows,
    running,
    seed_nodes,
)
from tests.polling import wait_until

MAX_BYTES = 4096


def jpeg(seed: int, side: int) -> bytes:
    """A real JPEG of noise: its size grows with ``side``."""
    image = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def test_snapshots_are_stored_once_replaced_by_better_ones_and_bounded(
    migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    a, b, c = NODES
    first, better, huge = jpeg(1, 24), jpeg(2, 32), jpeg(3, 128)
    assert len(better) <= MAX_BYTES < len(huge)
    settings = ingest_settings(migrated_url, mqtt_url, topics, snapshot_max_bytes=MAX_BYTES)
    with running(settings) as worker, publisher(mqtt_url) as pub:
        pub.publish(topics.snapshot(a, "e1"), first)
        pub.publish(topics.snapshot(a, "e1"), first)  # sent again (an outbox after an outage)
        pub.publish(topics.snapshot(b, "e2"), huge)
        pub.publish(topics.snapshot(b, "e3"), better)
        pub.publish(topics.readings(c), reading(1))
        pub.publish(topics.snapshot("cam-unknown", "e4"), first)
        pub.publish(topics.snapshot(c, "e5"), b"not a jpeg")
        pub.flush()
        wait_until(lambda: worker.stats.received == 7, what="7 received")
        wait_until(lambda: worker.stats.lag_s == 0.0, what="everything committed")
        # The camera found better evidence of e1: its new snapshot replaces the first; a late
        # copy of the first changes nothing.
        pub.publish(topics.snapshot(a, "e1"), better)
        pub.publish(topics.snapshot(a, "e1"), first)
        pub.flush()
        wait_until(lambda: worker.stats.received == 9, what="9 received")
        wait_until(lambda: worker.stats.lag_s == 0.0, what="everything committed")
    stored = rows(
        migrated_url,
        "SELECT node_id, event_id, jpeg, size, versions, topic FROM snapshots ORDER BY event_id",
    )
    assert stored == [
        (a, "e1", better, len(better), 2, topics.snapshot(a, "e1")),
        (b, "e3", better, len(better), 1, topics.snapshot(b, "e3")),
    ]
    assert count(migrated_url, "readings") == 1
    letters = rows(migrated_url, "SELECT topic, reason FROM dead_letters ORDER BY topic")
    assert letters == sorted(
        [
            (
                topics.snapshot(b, "e2"),
                f"snapshot of {len(huge)} bytes exceeds ENVGRID_SNAPSHOT_MAX_BYTES ({MAX_BYTES})",
            ),
            (topics.snapshot("cam-unknown", "e4"), "unknown node 'cam-unknown'"),
            (topics.snapshot(c, "e5"), "snapshot is not a JPEG"),
        ]
    )


def test_snapshots_redelivered_after_a_broker_restart_are_stored_once(
    migrated_url: str, own_broker: MosquittoBroker, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    node = NODES[0]
    # A long batch interval keeps the snapshots uncommitted across the broker restart.
    settings = ingest_settings(migrated_url, own_broker.url, topics, ingest_batch_interval_ms=2000)
    sent = {f"e{i}": jpeg(i, 24) for i in range(5)}
    with running(settings) as worker:
        with publisher(own_broker.url) as pub:
            for event_id, data in sent.items():
                pub.publish(topics.snapshot(node, event_id), data)
        wait_until(lambda: worker.stats.received == len(sent))
        own_broker.stop()  # saves the session, with the snapshots unacknowledged
        own_broker.start()
        # Committed from the old connection (acks void), then redelivered on the new one.
        wait_until(lambda: worker.stats.received == 2 * len(sent), timeout_s=20, what="redelivery")
        wait_until(lambda: worker.stats.lag_s == 0.0, what="everything committed")
    stored = rows(migrated_url, "SELECT event_id, jpeg, versions FROM snapshots ORDER BY event_id")
    assert stored == [(event_id, data, 1) for event_id, data in sent.items()]
