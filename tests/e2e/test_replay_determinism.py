"""A recorded run replayed on the feed's clock decides what the live run decided, every time.

Live: a cloud on the wall clock, the simulator with two incidents, a node that goes dark, and
garbage, recorded with ``envgrid record``. Then the feed is replayed twice, at full speed, into
fresh databases with clouds on ``ENVGRID_CLOCK=feed`` (two ingest workers, so the barrier spans
a shared subscription): the readings are the same row for row, and the cases the same to the
microsecond, across the replays and against the live run. A decision taken on the wall clock
would differ between the replays (they run at different times) and from the live run, and would
fall after the feed's end: all three are checked.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from envgrid_cli.services.ports import free_port
from envgrid_common.clock import SHANGHAI, decode_tick, from_ns
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from envgrid_common.topics import Topics
from envgrid_sim.feeds.reader import FeedReader, feed_files
from tests.conftest import PG_ADMIN_URL
from tests.e2e.support import clean_env, start, stop, wait_for

DARK = "luxi-farm-02-effluent"  # not among the simulator's four nodes: the test plays it
INCIDENTS = ["luxi-farm-01-effluent:cod:4:4:10", "luxi-river-01-wq:codmn:3:6:8"]
LIVE_S = 70.0  # long enough for two no-data sweeps (every 30 s) after the dark node's 15 s
TICK_S = 0.5  # under the nodes' 1 s: one reading of a node a tick, split across workers

READINGS = "SELECT node_id, ts, seq, vals, flags, historical FROM readings ORDER BY 1, 2, 3"
CASES = """
SELECT site_id, rule_id, state, occurrences, first_value, last_value, peak_value,
       first_seen_at, last_seen_at, raised_at, cleared_at, severity, ack_due_at, close_due_at
FROM cases ORDER BY site_id, rule_id, raised_at
"""
DEAD = "SELECT topic, payload, reason FROM dead_letters ORDER BY topic, payload, reason"


@contextmanager
def scratch_database() -> Iterator[str]:
    """A database of its own, dropped afterwards."""
    name = f"envgrid_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _envgrid(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envgrid_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(row) for row in conn.execute(query).fetchall()]


def _cloud_env(url: str, mqtt_url: str, root: str, run: str, **extra: str) -> dict[str, str]:
    return clean_env(
        ENVGRID_TOPIC_ROOT=root,
        ENVGRID_DATABASE_URL=url,
        ENVGRID_MQTT_URL=mqtt_url,
        ENVGRID_INGEST_CLIENT_ID=f"ingest-{run}",
        ENVGRID_INGEST_SHARE_GROUP=f"ingest-{run}",
        ENVGRID_CASE_TOPICS_ENABLED="false",
        ENVGRID_NOTIFY_ENABLED="false",
        ENVGRID_LOG_LEVEL="INFO",
        **extra,
    )


def _load_registry(env: dict[str, str]) -> None:
    loaded = _envgrid(["scenario", "load", "luxi"], env)
    assert loaded.returncode == 0, loaded.stderr


class _Publisher:
    """The test's own hand on the broker: the dark node's readings, and garbage."""

    def __init__(self, mqtt_url: str) -> None:
        address = BrokerAddress.parse(mqtt_url)
        self.client = new_client(f"e2e-pub-{uuid.uuid4().hex[:6]}", address)
        connect(self.client, address)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _live_run(
    tmp_path: Path, url: str, mqtt_url: str, topics: Topics, run: str
) -> tuple[Path, list[Path]]:
    """Record a live run into tmp_path/feed; the feed directory and the logs."""
    # The live cloud runs its API too: the sweeps (no data, escalation) are the API's.
    env = _cloud_env(url, mqtt_url, topics.root, run, ENVGRID_API_PORT=str(free_port()))
    _load_registry(env)
    logs = [tmp_path / f"live-{name}.log" for name in ("cloud", "record", "sim")]
    feed = tmp_path / "feed"
    cloud = start(["cloud"], env, logs[0])
    recorder = sim = None
    publisher = _Publisher(mqtt_url)
    try:
        wait_for("the live ingest", lambda: "ingesting" in logs[0].read_text(), 60, tuple(logs))
        recorder = start(
            ["record", "--filter", f"{topics.base}/nodes/#", "--out", str(feed)], env, logs[1]
        )
        wait_for("the recorder", lambda: list(feed.glob("*.egfeed")), 30, tuple(logs))
        time.sleep(2.0)  # its subscription made
        incidents = [arg for spec in INCIDENTS for arg in ("--incident", spec)]
        sim_env = {**env, "ENVGRID_SIM_CLIENT_ID_PREFIX": f"{run}-"}
        sim_args = ["sim", "--nodes", "4", "--interval", "1", "--data-dir", str(tmp_path / "sim")]
        sim = start([*sim_args, *incidents], sim_env, logs[2])
        began = time.monotonic()
        # The dark node reports for eight seconds and falls silent: no data after 15 s.
        for seq in range(1, 9):
            now = datetime.now(SHANGHAI).replace(microsecond=0)
            reading = {"seq": seq, "ts": now.isoformat(), "values": {"cod": 80.0 + seq}}
            publisher.send(topics.readings(DARK), orjson.dumps(reading))
            time.sleep(1.0)
        # Garbage: bytes that are no JSON, a reading without its fields, an unknown node.
        publisher.send(topics.readings("luxi-farm-01-effluent"), b"\x00\xffnot json")
        publisher.send(topics.readings("luxi-river-01-wq"), b'{"seq": "x"}')
        ghost = {"seq": 1, "ts": datetime.now(UTC).isoformat(), "values": {"cod": 1.0}}
        publisher.send(topics.readings("luxi-ghost-01"), orjson.dumps(ghost))
        time.sleep(max(0.0, LIVE_S - (time.monotonic() - began)))
        stop(sim)  # its nodes go offline: the statuses are part of the feed
        time.sleep(2.0)
    finally:
        publisher.close()
        if recorder is not None:
            stop(recorder)
        if sim is not None:
            stop(sim)
        time.sleep(1.0)  # the live ingest commits what it holds
        stop(cloud)
    return feed, logs


def _replay(
    tmp_path: Path, name: str, url: str, mqtt_url: str, feed: Path, live_root: str
) -> tuple[float, list[Path]]:
    """Replay ``feed`` into ``url`` on the feed's clock; seconds the replay took, and the logs."""
    run = uuid.uuid4().hex[:8]
    topics = Topics(f"t-{run}/envgrid")
    env = _cloud_env(
        url, mqtt_url, topics.root, run, ENVGRID_CLOCK="feed", ENVGRID_INGEST_WORKERS="2"
    )
    _load_registry(env)
    logs = [tmp_path / f"{name}-cloud.log", tmp_path / f"{name}-replay.log"]
    last_ns = max(
        block.last_ns for path in feed_files([feed]) for block in FeedReader(path).blocks()
    )
    swept: list[int] = []
    address = BrokerAddress.parse(mqtt_url)
    watcher = new_client(f"e2e-watch-{run}", address)
    subscribed = threading.Event()
    watcher.on_connect = lambda c, *_: c.subscribe(topics.clock_swept(), qos=1)
    watcher.on_subscribe = lambda *_: subscribed.set()
    watcher.on_message = lambda _c, _u, m: swept.append(decode_tick(m.payload))
    connect(watcher, address)
    watcher.loop_start()
    cloud = start(["cloud", "--ingest-only"], env, logs[0])
    try:
        assert subscribed.wait(10)
        wait_for(
            "the replay's ingest",
            lambda: logs[0].read_text().count("ingesting") >= 2,
            60,
            tuple(logs),
        )
        time.sleep(2.0)  # the workers' subscriptions made
        began = time.monotonic()
        args = ["replay", str(feed), "--max", "--feed-clock", "--tick-s", str(TICK_S)]
        args += ["--topic-root", f"{live_root}:{topics.root}"]
        done = _envgrid(args, env)
        logs[1].write_text(done.stdout + done.stderr)
        assert done.returncode == 0, done.stderr
        wait_for(
            "the sweeps at the feed's end", lambda: swept and max(swept) >= last_ns, 60, tuple(logs)
        )
        took = time.monotonic() - began
    finally:
        stop(cloud)
        watcher.disconnect()
        watcher.loop_stop()
    return took, logs


def _letters(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Dead letters without their topic root (each replay publishes under its own)."""
    return sorted((topic.split("/v1/", 1)[-1], payload) for topic, payload, _ in rows)


def _by_rule(cases: list[tuple[Any, ...]]) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {(c[0], c[1]): c for c in cases}


@pytest.mark.timeout(600)
def test_a_recorded_run_replayed_on_the_feed_clock_decides_as_it_did_live(
    tmp_path: Path, migrated_url: str, mqtt_url: str, topic_root: str
) -> None:
    run = uuid.uuid4().hex[:8]
    live_topics = Topics(topic_root)
    feed, _ = _live_run(tmp_path, migrated_url, mqtt_url, live_topics, run)
    live_readings, live_cases = _rows(migrated_url, READINGS), _rows(migrated_url, CASES)
    live_dead = _rows(migrated_url, DEAD)
    rules = {(c[0], c[1]) for c in live_cases}
    # The run holds what the test is about: breaches, the dark node's no data, garbage.
    assert ("luxi-river-01", "codmn") in rules, live_cases
    assert ("luxi-farm-02", "no_data") in rules, live_cases
    assert len(live_dead) >= 3, live_dead
    feed_end = from_ns(max(b.last_ns for p in feed_files([feed]) for b in FeedReader(p).blocks()))

    replays = []
    for name in ("replay-1", "replay-2"):
        with scratch_database() as url:
            took, _logs = _replay(tmp_path, name, url, mqtt_url, feed, topic_root)
            readings, cases, dead = _rows(url, READINGS), _rows(url, CASES), _rows(url, DEAD)
            replays.append((readings, cases, dead))
            print(f"{name}: {len(readings)} readings replayed on the feed clock in {took:.1f} s")

    (first_r, first_c, first_d), (second_r, second_c, second_d) = replays
    # Across the two replays: identical, row for row, to the microsecond.
    assert first_r == second_r
    assert first_c == second_c, set(first_c) ^ set(second_c)
    assert _letters(first_d) == _letters(second_d)
    # Against the live run: the same readings, the same dead letters (topics remapped aside).
    assert first_r == live_readings
    assert _letters(first_d) == _letters(live_dead)
    # Every decision was taken on the feed's time: none after its end (the replays ran later).
    for case in first_c:
        for moment in (case[7], case[8], case[9], case[10]):
            assert moment is None or moment <= feed_end + timedelta(seconds=1), case
    # The same cases as live, every field to the microsecond: decisions are dated by the data
    # (decision_time), so neither the batches nor the sweeps' moments show.
    assert first_c == live_cases, _differences(live_cases, first_c)


def _differences(live: list[tuple[Any, ...]], replayed: list[tuple[Any, ...]]) -> list[str]:
    """What differs between the live cases and the replayed ones, column by column."""
    names = [n.strip().split()[-1] for n in CASES.split("SELECT", 1)[1].split("FROM")[0].split(",")]
    was, now = _by_rule(live), _by_rule(replayed)
    out = [f"{key}: live only" for key in was.keys() - now.keys()]
    out += [f"{key}: replay only" for key in now.keys() - was.keys()]
    for key in sorted(was.keys() & now.keys()):
        out += [
            f"{key} {name}: live {a!r}, replayed {b!r}"
            for name, a, b in zip(names, was[key], now[key], strict=True)
            if a != b
        ]
    return out
