"""Two ingest workers on one shared subscription, on the feed's clock: the barrier they report
(the lowest tick each says it has committed everything before) is never ahead of the database.

After a tick at the feed's start, each round publishes one reading of every node at feed
second ``t`` and then the tick at ``t``, so the readings before a tick are those of ``ts <= t``.
A watcher follows the workers' reports as the sweeper does and, each time the barrier rises,
counts those rows: all of them must be there already. And one node's readings, dealt to both,
are judged as one worker judges them: in the feed's order (a reading older than its rule
state's last would be judged as late).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from typing import Any

import psycopg

from envgrid_cloud.ingest.feed_clock import BarrierFollower, worker_ids
from envgrid_cloud.ingest.worker import IngestWorker
from envgrid_cloud.ingest_processes import judge_for
from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import EPOCH, FeedClock, encode_tick, from_ns
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.topics import Topics
from tests.integration.test_ingest_support import (
    BASE_TS,
    NODES,
    count,
    ingest_settings,
    publisher,
    reading,
    rows,
    scalar,
    seed_nodes,
)

SEQS = range(1, 201)  # a reading's seq starts at 1


def _tick_ns(seq: int) -> int:
    return (BASE_TS + timedelta(seconds=seq) - EPOCH) // timedelta(microseconds=1) * 1000


class _Watch:
    """The barrier as the sweeper sees it, checked against the database at every rise."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self.barriers: list[int] = []
        self.behind: list[tuple[int, int, int]] = []  # barrier, rows expected, rows there
        self.reached_last = threading.Event()

    def moved(self, barrier_ns: int, last_ns: int | None) -> None:
        expected = len(NODES) * sum(1 for seq in SEQS if _tick_ns(seq) <= barrier_ns)
        there = int(
            scalar(self._url, "SELECT count(*) FROM readings WHERE ts <= %s", from_ns(barrier_ns))
        )
        self.barriers.append(barrier_ns)
        if there < expected:
            self.behind.append((barrier_ns, expected, there))
        if last_ns is not None and barrier_ns >= last_ns:
            self.reached_last.set()


def test_two_workers_on_a_shared_subscription_report_a_tick_only_once_all_before_is_committed(
    migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    settings = ingest_settings(
        migrated_url,
        mqtt_url,
        topics,
        clock="feed",
        ingest_workers=2,
        ingest_share_group=f"g-{uuid.uuid4().hex[:8]}",
    )
    watch = _Watch(migrated_url)
    follower = BarrierFollower(
        BrokerAddress.parse(mqtt_url),
        topics,
        worker_ids(settings),
        f"t-watch-{uuid.uuid4().hex[:8]}",
        watch.moved,
    )
    follower.start()
    try:
        assert follower.subscribed.wait(10)
        with _on_feed_clock(settings, 0) as first, _on_feed_clock(settings, 1) as second:
            with publisher(mqtt_url) as pub:
                pub.publish(topics.clock(), encode_tick(_tick_ns(0)))  # the feed's start
                for seq in SEQS:
                    for node in NODES:
                        pub.publish(topics.readings(node), reading(seq))
                    last = seq == SEQS[-1]
                    pub.publish(topics.clock(), encode_tick(_tick_ns(seq), last=last))
            assert watch.reached_last.wait(60), watch.barriers[-3:]
            # The shared subscription dealt the readings to both.
            assert first.stats.stored > 0
            assert second.stats.stored > 0
    finally:
        follower.stop()
    assert watch.behind == []
    assert len(watch.barriers) > 1  # it rose along the feed, not only at its end
    assert watch.barriers == sorted(watch.barriers)
    assert count(migrated_url, "readings") == len(NODES) * len(SEQS)


def _judged(database_url: str, mqtt_url: str, topics: Topics, workers: int) -> list[Any]:
    """One node's readings, breaching and clearing by turns, a tick after each, through
    ``workers`` workers on the feed's clock: the cases they left, once all is committed."""
    settings = ingest_settings(
        database_url,
        mqtt_url,
        topics,
        clock="feed",
        ingest_workers=workers,
        ingest_share_group=f"g-{uuid.uuid4().hex[:8]}",
    )
    watch = _Watch(database_url)
    follower = BarrierFollower(
        BrokerAddress.parse(mqtt_url),
        topics,
        worker_ids(settings),
        f"t-watch-{uuid.uuid4().hex[:8]}",
        lambda barrier, last: watch.reached_last.set() if barrier == last else None,
    )
    follower.start()
    try:
        assert follower.subscribed.wait(10)
        with ExitStack() as stack:
            for index in range(workers):
                stack.enter_context(_on_feed_clock(settings, index))
            with publisher(mqtt_url) as pub:
                pub.publish(topics.clock(), encode_tick(_tick_ns(0)))
                for seq in SEQS:
                    cod = 30.0 if seq // 2 % 2 else 10.0  # two over the limit, two under
                    pub.publish(topics.readings(NODES[0]), reading(seq, cod=cod))
                    pub.publish(topics.clock(), encode_tick(_tick_ns(seq), last=seq == SEQS[-1]))
            assert watch.reached_last.wait(60)
    finally:
        follower.stop()
    return rows(
        database_url,
        "SELECT c.rule_id, c.state, c.occurrences, c.first_seen_at, c.last_seen_at, c.raised_at,"
        " c.cleared_at, e.action, e.at FROM cases c JOIN case_events e ON e.case_id = c.id"
        " ORDER BY e.at, e.id",
    )


@contextmanager
def _on_feed_clock(settings: CloudSettings, index: int) -> Iterator[IngestWorker]:
    """A worker as ``envgrid cloud`` runs it on the feed's clock: its store and rules on one."""
    clock = FeedClock()
    worker = IngestWorker(settings, index, judge_for(settings, clock), clock).start()
    try:
        assert worker.wait_subscribed(10)
        yield worker
    finally:
        worker.stop()


def test_two_workers_sharing_a_nodes_readings_judge_them_in_the_feeds_order(
    migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    alone = _judged(migrated_url, mqtt_url, topics, 1)  # one worker: the feed's order
    assert len(alone) > 10, alone  # raised, cleared and recurred by turns
    with psycopg.connect(migrated_url) as conn:
        conn.execute("TRUNCATE readings, rule_state, cases CASCADE")
    shared = _judged(migrated_url, mqtt_url, Topics(f"{topics.root}-2"), 2)
    assert shared == alone
