"""The ingest against the real broker and database: what lands in which table, and how often."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from envgrid_common.topics import Topics
from tests.integration.test_ingest_support import (
    BASE_TS,
    NODES,
    count,
    ingest_settings,
    publish_rounds,
    publisher,
    reading,
    rows,
    running,
    scalar,
    seed_nodes,
)
from tests.polling import wait_until


def test_readings_are_stored_once_and_a_replay_stores_nothing(
    migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    per_node = 400
    total = per_node * len(NODES)
    settings = ingest_settings(migrated_url, mqtt_url, topics, ingest_batch_max=250)
    with running(settings) as worker, publisher(mqtt_url) as pub:
        publish_rounds(pub, topics, per_node, lambda seq: reading(seq, cod=seq, nh3n=seq / 10))
        pub.flush()
        wait_until(lambda: worker.stats.stored == total, what=f"{total} stored")
        assert count(migrated_url, "readings") == total
        assert worker.stats.batches > 1  # batch_max splits the stream

        publish_rounds(pub, topics, per_node, lambda seq: reading(seq, cod=seq, nh3n=seq / 10))
        pub.flush()
        wait_until(lambda: worker.stats.duplicates == total, what=f"{total} duplicates")
        stats = worker.stats
    assert count(migrated_url, "readings") == total
    assert stats.received == 2 * total
    assert stats.stored == total
    assert stats.dead_lettered == 0
    distinct = scalar(migrated_url, "SELECT count(DISTINCT (node_id, seq)) FROM readings")
    assert distinct == total
    stored = rows(
        migrated_url,
        "SELECT vals, flags, historical, ts FROM readings WHERE node_id = %s AND seq = 7",
        NODES[1],
    )
    assert stored == [({"cod": 7.0, "nh3n": 0.7}, None, False, BASE_TS + timedelta(seconds=7))]


def test_latest_values_hold_the_newest_value_of_each_metric(
    migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    node = NODES[0]
    with (
        running(ingest_settings(migrated_url, mqtt_url, topics)) as worker,
        publisher(mqtt_url) as pub,
    ):
        # Out of order, across batches, one metric only in an older reading, a flag on one.
        pub.publish(topics.readings(node), reading(5, cod=5.0, ph=7.5))
        pub.flush()
        wait_until(lambda: worker.stats.stored == 1)
        late = orjson.loads(reading(9, cod=9.0))
        late["flags"] = {"cod": "T"}
        late["historical"] = True
        pub.publish(topics.readings(node), orjson.dumps(late))
        pub.publish(topics.readings(node), reading(3, cod=3.0, ph=6.0, tp=0.3))
        pub.flush()
        wait_until(lambda: worker.stats.stored == 3)
    latest = rows(
        migrated_url,
        "SELECT metric, seq, value, flag FROM latest_values WHERE node_id = %s ORDER BY metric",
        node,
    )
    assert latest == [("cod", 9, 9.0, "T"), ("ph", 5, 7.5, None), ("tp", 3, 0.3, None)]
    assert scalar(migrated_url, "SELECT historical FROM readings WHERE seq = 9") is True
    assert scalar(migrated_url, "SELECT flags FROM readings WHERE seq = 9") == {"cod": "T"}


def test_status_messages_update_the_node(migrated_url: str, mqtt_url: str, topics: Topics) -> None:
    seed_nodes(migrated_url)
    a, b, c = NODES
    now = datetime.now(UTC).replace(microsecond=0)
    status = "SELECT status, status_at FROM nodes WHERE id = %s"
    with (
        running(ingest_settings(migrated_url, mqtt_url, topics)) as worker,
        publisher(mqtt_url) as pub,
    ):
        pub.publish(topics.status(a), orjson.dumps({"state": "online", "ts": now.isoformat()}))
        # An older status arriving later must not win.
        old = (now - timedelta(minutes=5)).isoformat()
        pub.publish(topics.status(a), orjson.dumps({"state": "offline", "ts": old}))
        pub.publish(topics.status(b), b'{"state": "offline"}')  # a Last Will: no ts
        pub.publish(topics.status(c), b"")  # a cleared retained status: nothing to do
        pub.flush()
        wait_until(lambda: scalar(migrated_url, status, b) == "offline", what="b offline")
        wait_until(lambda: worker.stats.received == 4)
        wait_until(lambda: worker.stats.lag_s == 0.0, what="everything committed")
    assert rows(migrated_url, status, a) == [("online", now)]
    b_at = rows(migrated_url, status, b)[0][1]
    assert abs((b_at - datetime.now(UTC)).total_seconds()) < 30
    assert rows(migrated_url, status, c) == [("unknown", None)]
    assert count(migrated_url, "dead_letters") == 0


def test_a_retained_status_published_before_the_worker_started_is_applied(
    migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    node = NODES[2]
    with publisher(mqtt_url) as pub:
        pub.publish(topics.status(node), b'{"state": "online"}', retain=True)
    try:
        with running(ingest_settings(migrated_url, mqtt_url, topics)):
            wait_until(
                lambda: (
                    scalar(migrated_url, "SELECT status FROM nodes WHERE id = %s", node) == "online"
                ),
                what="retained status applied",
            )
    finally:
        with publisher(mqtt_url) as pub:
            pub.publish(topics.status(node), b"", retain=True)  # leave the broker clean
