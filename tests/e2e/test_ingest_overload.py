"""Overload: an ingest worker whose commits are slowed, then stopped, by its database.

100,000 readings (an alarm storm: almost every one breaks its limit, so the rules work for
each) go to ``envgrid cloud`` on a Mosquitto of the test's own, configured as shipped, with
a persistent session. Every commit sleeps; for a while the database answers no commit at all.
The worker must then hold no more than its Receive Maximum (it stops reading; the broker keeps
the rest), keep its connection (nothing is read for several keepalive periods), report itself
stalled on /healthz and /api/v1/status, recover when the database does, and store every
reading exactly once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from envgrid_cli.services.mosquitto import MosquittoBroker, mosquitto_binary
from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_common.topics import Topics
from tests.e2e.support import admin_token, clean_env, get, start, stop, use_token, wait_for
from tests.integration.test_ingest_support import NODES, scalar, seed_nodes
from tests.mqtt_clients import Publisher

TOTAL = 100_000
WINDOW = 5_000  # the worker's Receive Maximum: the most it may hold
KEEPALIVE_S = 5
STALL_S = 3  # no commit for this long, with messages held: stalled
HOLD_S = 4 * KEEPALIVE_S  # how long the database commits nothing
START = datetime.now(UTC) - timedelta(days=2)

# Every statement that inserts readings sleeps a little; while the switch is on it waits.
SLOW_DATABASE = """
CREATE TABLE overload_switch (stalled boolean NOT NULL);
INSERT INTO overload_switch VALUES (false);
CREATE FUNCTION overload_brake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(0.05);
    WHILE (SELECT stalled FROM overload_switch) LOOP
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER overload_brake BEFORE INSERT ON readings
    FOR EACH STATEMENT EXECUTE FUNCTION overload_brake();
"""


def reading(seq: int) -> bytes:
    """A reading over its limit (COD 30 mg/L where class III allows 20), a second apart."""
    ts = (START + timedelta(seconds=seq)).isoformat()
    return orjson.dumps({"seq": seq, "ts": ts, "values": {"cod": 30.0, "nh3n": 0.5}})


def set_stall(database_url: str, stalled: bool) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE overload_switch SET stalled = %s", (stalled,))


def stored(database_url: str) -> int:
    return int(scalar(database_url, "SELECT count(*) FROM readings"))


def health(base: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{base}/healthz", timeout=5)
    return response.status_code, response.json()


def worker_status(base: str) -> dict[str, Any]:
    (worker,) = get(base, "/api/v1/status")["workers"]
    assert isinstance(worker, dict)
    return worker


def publish_all(url: str, topics: Topics, total: int = TOTAL) -> None:
    """``total`` readings over three nodes, each acknowledged by the broker."""
    publisher = Publisher(url, max_inflight=1000, background=False).start()
    try:
        for i in range(total):
            if i % 1000 == 0:  # paho refuses more than 65,535 unacknowledged
                wait_for("the broker to keep up", lambda: publisher.unacked() < 20_000, 60)
            publisher.publish(topics.readings(NODES[i % len(NODES)]), reading(i // len(NODES)))
        publisher.flush(timeout_s=300)
    finally:
        publisher.close()


def stall_reported(base: str) -> tuple[int, dict[str, Any]] | None:
    code, body = health(base)
    return (code, body) if code == 503 else None


def caught_up(base: str) -> dict[str, Any] | None:
    worker = worker_status(base)
    return worker if worker["held"] == 0 and worker["stored"] == TOTAL else None


def cloud_env(
    db: str, broker: MosquittoBroker, topics: Topics, port: int, **extra: str
) -> dict[str, str]:
    return clean_env(
        ENVGRID_DATABASE_URL=db,
        ENVGRID_MQTT_URL=broker.url,
        ENVGRID_TOPIC_ROOT=topics.root,
        ENVGRID_API_PORT=str(port),
        ENVGRID_INGEST_CLIENT_ID="overload-ingest",
        ENVGRID_INGEST_BATCH_MAX="1000",
        ENVGRID_INGEST_RECEIVE_MAXIMUM=str(WINDOW),
        ENVGRID_INGEST_KEEPALIVE_S=str(KEEPALIVE_S),
        ENVGRID_INGEST_STALL_S=str(STALL_S),
        **extra,
    )


@pytest.fixture
def slow_database(migrated_url: str) -> str:
    seed_nodes(migrated_url)
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute(SLOW_DATABASE.encode())
    return migrated_url


@pytest.mark.slow
@pytest.mark.skipif(mosquitto_binary() is None, reason="the test's own broker needs mosquitto")
def test_a_starved_worker_holds_its_window_keeps_its_connection_and_loses_nothing(
    slow_database: str, own_broker: MosquittoBroker, tmp_path: Path
) -> None:
    db, topics, port = slow_database, Topics("overload/envgrid"), free_port()
    base, log = f"http://127.0.0.1:{port}", tmp_path / "cloud.log"
    cloud = start(["cloud"], cloud_env(db, own_broker, topics, port), log)
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        use_token(base, admin_token(db))
        wait_for("the worker's first report", lambda: get(base, "/api/v1/status")["workers"], 30)
        set_stall(db, True)  # the database takes the first batch and commits nothing more
        stalled_at = time.monotonic()
        try:
            publish_all(own_broker.url, topics)
            report: tuple[int, dict[str, Any]] = wait_for(
                "/healthz to report the stall", lambda: stall_reported(base), STALL_S + 15, (log,)
            )
            assert "overload-ingest-0 stalled: " in report[1]["ingest"], report
            assert "a database write has been running for" in report[1]["ingest"], report
            worker = worker_status(base)
            assert worker["state"] == "stalled"
            assert worker["held"] == WINDOW, "it should hold exactly its Receive Maximum"
            assert worker["lag_s"] >= STALL_S
            # Not one byte read for several keepalive periods: paho's own rule would drop it.
            time.sleep(max(0.0, HOLD_S - (time.monotonic() - stalled_at)))
            assert stored(db) == 0
            assert worker_status(base)["reconnects"] == 0
        finally:
            set_stall(db, False)

        wait_for("every reading stored", lambda: stored(db) >= TOTAL, 240, (log,))
        wait_for("/healthz well again", lambda: health(base)[0] == 200, 15, (log,))
        worker = wait_for("a report of it all", lambda: caught_up(base), 15, (log,))
        assert worker["state"] == "running"
        assert worker["reconnects"] == 0, "the worker lost its connection"
    finally:
        assert stop(cloud) == 0, log.read_text()[-3000:]

    rows, distinct = (
        stored(db),
        int(scalar(db, "SELECT count(DISTINCT (node_id, seq)) FROM readings")),
    )
    assert (rows, distinct) == (TOTAL, TOTAL)
    text = log.read_text()
    assert "lost the broker" not in text, text[-3000:]
    assert "Keep alive timeout" not in text
    assert "stalled: a database write has been running" in text
    assert "committing again" in text


@pytest.mark.slow
@pytest.mark.skipif(mosquitto_binary() is None, reason="the test's own broker needs mosquitto")
def test_a_worker_stuck_in_a_write_exits_is_started_afresh_and_loses_nothing(
    slow_database: str, own_broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Stuck longer than ENVGRID_INGEST_STUCK_EXIT_S: the worker gives up and its supervisor
    starts another, which gets the held messages again from the broker."""
    db, topics, port = slow_database, Topics("stuck/envgrid"), free_port()
    base, log = f"http://127.0.0.1:{port}", tmp_path / "cloud.log"
    env = cloud_env(db, own_broker, topics, port, ENVGRID_INGEST_STUCK_EXIT_S="5")
    cloud = start(["cloud"], env, log)
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        use_token(base, admin_token(db))
        wait_for("the worker's first report", lambda: get(base, "/api/v1/status")["workers"], 30)
        set_stall(db, True)
        try:
            publish_all(own_broker.url, topics, 20_000)
            wait_for(
                "the stuck worker to give up",
                lambda: "exiting for a fresh start" in log.read_text(),
                30,
                (log,),
            )
            wait_for("its restart", lambda: "ingest-0 restarted" in log.read_text(), 30, (log,))
        finally:
            set_stall(db, False)
        wait_for("every reading stored", lambda: stored(db) >= 20_000, 120, (log,))
    finally:
        assert stop(cloud) == 0, log.read_text()[-3000:]
    assert int(scalar(db, "SELECT count(DISTINCT (node_id, seq)) FROM readings")) == 20_000
    assert stored(db) == 20_000
    assert "stuck: a database write has been running for" in log.read_text()
