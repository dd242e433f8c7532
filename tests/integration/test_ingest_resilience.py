"""Nothing lost, nothing doubled: shared workers, restarts, crashes, database and broker outages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_cloud.ingest.worker import IngestWorker
from envgrid_cloud.ingest_processes import judge_for
from envgrid_cloud.settings import CloudSettings
from envgrid_common.topics import Topics
from tests.conftest import PG_ADMIN_URL
from tests.integration.test_ingest_support import (
    NODES,
    count,
    ingest_settings,
    publish_rounds,
    publisher,
    reading,
    running,
    scalar,
    seed_nodes,
)
from tests.mqtt_clients import Publisher
from tests.polling import wait_until

EXACTLY_ONCE = "SELECT count(*), count(DISTINCT (node_id, seq)) FROM readings"


@contextmanager
def streaming(pub: Publisher, topics: Topics, per_node: int, pace_s: float) -> Iterator[None]:
    """Publish ``per_node`` readings of every node from a thread, ``pace_s`` per round."""

    thread = threading.Thread(
        target=publish_rounds, args=(pub, topics, per_node), kwargs={"pace_s": pace_s}
    )
    thread.start()
    try:
        yield
    finally:
        thread.join()
        pub.flush()


def test_two_workers_on_a_shared_subscription_store_everything_once(
    migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    per_node = 700
    total = per_node * len(NODES)
    settings = ingest_settings(migrated_url, mqtt_url, topics, ingest_batch_max=200)
    with running(settings, 0) as first, running(settings, 1) as second, publisher(mqtt_url) as pub:
        publish_rounds(pub, topics, per_node)
        pub.flush()
        wait_until(lambda: count(migrated_url, "readings") == total, what=f"{total} rows")
        wait_until(lambda: first.stats.lag_s == second.stats.lag_s == 0.0)
        a, b = first.stats, second.stats
    assert a.received > 0
    assert b.received > 0
    assert a.received + b.received == total
    assert a.stored + b.stored == total
    assert a.duplicates == b.duplicates == 0
    assert scalar(migrated_url, "SELECT count(DISTINCT (node_id, seq)) FROM readings") == total


def test_a_worker_stopped_mid_stream_and_replaced_loses_and_doubles_nothing(
    migrated_url: str, own_broker: MosquittoBroker, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    per_node = 1000
    total = per_node * len(NODES)
    settings = ingest_settings(migrated_url, own_broker.url, topics)
    with publisher(own_broker.url) as pub:
        first = IngestWorker(settings, 0, judge_for(settings)).start()
        assert first.wait_subscribed(10)
        with streaming(pub, topics, per_node, pace_s=0.001):
            wait_until(lambda: first.stats.stored >= total // 4, what="a quarter stored")
            first.stop()
            stopped_at = count(migrated_url, "readings")
            assert stopped_at < total, "the stream ended before the stop: test proves nothing"
        with running(settings, 0) as second:
            wait_until(lambda: count(migrated_url, "readings") == total, what=f"{total} rows")
            wait_until(lambda: second.stats.lag_s == 0.0)
            resumed = second.stats
    assert first.stats.stored + resumed.stored == total
    # Every committed message was acked before the first worker disconnected.
    assert resumed.duplicates == 0
    assert scalar(migrated_url, "SELECT count(DISTINCT (node_id, seq)) FROM readings") == total


_WORKER_SCRIPT = """
import signal, threading
from envgrid_cloud.ingest.worker import run_worker
from envgrid_cloud.ingest_processes import judge_for
from envgrid_cloud.settings import CloudSettings
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
settings = CloudSettings()
run_worker(settings, 0, stop, judge_for(settings))
"""


def _worker_process(settings: CloudSettings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENVGRID_DATABASE_URL": settings.database_url,
        "ENVGRID_MQTT_URL": settings.mqtt_url,
        "ENVGRID_TOPIC_ROOT": settings.topic_root,
        "ENVGRID_INGEST_CLIENT_ID": settings.ingest_client_id,
    }
    return subprocess.Popen([sys.executable, "-c", _WORKER_SCRIPT], env=env)


def test_a_killed_worker_process_loses_nothing_and_its_successor_doubles_nothing(
    migrated_url: str, own_broker: MosquittoBroker, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    per_node = 1000
    total = per_node * len(NODES)
    settings = ingest_settings(migrated_url, own_broker.url, topics)
    with publisher(own_broker.url) as pub:
        process = _worker_process(settings)
        try:
            # The session must exist before the stream, or the broker has nowhere to queue it:
            # publish a probe until one is stored.
            def probe_stored() -> bool:
                pub.publish(topics.readings(NODES[0]), reading(per_node))
                return count(migrated_url, "readings") > 0

            wait_until(probe_stored, what="worker subscribed")
            with streaming(pub, topics, per_node, pace_s=0.001):
                wait_until(lambda: count(migrated_url, "readings") >= total // 4, what="a quarter")
                process.send_signal(signal.SIGKILL)  # no drain, no acks: a crash
                process.wait(10)
            assert count(migrated_url, "readings") < total
            process = _worker_process(settings)
            wait_until(lambda: count(migrated_url, "readings") == total + 1, what="every row")
            process.send_signal(signal.SIGTERM)
            assert process.wait(15) == 0
        finally:
            process.kill()
    stored, distinct = _one_row(migrated_url, EXACTLY_ONCE)
    assert stored == distinct == total + 1


def _one_row(url: str, sql: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_database_outage_holds_messages_and_stores_them_when_back(
    migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    database = migrated_url.rpartition("/")[2]
    settings = ingest_settings(migrated_url, mqtt_url, topics)
    per_node = 300
    total = per_node * len(NODES)
    with running(settings) as worker, publisher(mqtt_url) as pub:
        pub.publish(topics.readings(NODES[0]), reading(per_node))  # one before the outage
        wait_until(lambda: worker.stats.stored == 1)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )
            try:
                publish_rounds(pub, topics, per_node)
                pub.flush()
                wait_until(lambda: worker.stats.received == total + 1, what="all received")
                time.sleep(1.0)  # several retries fail meanwhile
                assert worker.stats.stored == 1
                assert worker.stats.lag_s >= 1.0
            finally:
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        wait_until(lambda: worker.stats.stored == total + 1, timeout_s=20, what="stored after")
        wait_until(lambda: worker.stats.lag_s == 0.0)
    stored, distinct = _one_row(migrated_url, EXACTLY_ONCE)
    assert stored == distinct == total + 1


def test_broker_restart_with_a_batch_in_flight_acks_on_the_new_connection_only(
    migrated_url: str, own_broker: MosquittoBroker, topics: Topics
) -> None:
    own_broker = own_broker
    seed_nodes(migrated_url)
    # A long batch interval keeps the first messages uncommitted across the broker restart.
    settings = ingest_settings(migrated_url, own_broker.url, topics, ingest_batch_interval_ms=2000)
    node = NODES[0]
    with running(settings) as worker:
        with publisher(own_broker.url) as pub:
            for seq in range(50):
                pub.publish(topics.readings(node), reading(seq))
        wait_until(lambda: worker.stats.received == 50)
        assert worker.stats.stored == 0
        own_broker.stop()  # saves the session, with the 50 messages unacknowledged
        own_broker.start()
        # Committed from the old connection (acks void), then redelivered on the new one.
        wait_until(lambda: worker.stats.duplicates == 50, timeout_s=20, what="redelivery")
        assert worker.stats.stored == 50
    # Everything was acked on the new connection: a fresh worker gets only the next message.
    with running(settings) as successor:
        with publisher(own_broker.url) as pub:
            pub.publish(topics.readings(node), reading(50))
        wait_until(lambda: successor.stats.stored == 1)
        wait_until(lambda: successor.stats.lag_s == 0.0)
        assert successor.stats.received == 1
    assert count(migrated_url, "readings") == 51
