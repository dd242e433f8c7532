"""Two ingest workers on one shared subscription, on the feed's clock: the barrier they report
(the lowest tick each says it has committed everything before) is never ahead of the database.

After a tick at the feed's start, each round publishes one reading of every node at feed
second ``t`` and then the tick at ``t``, so the readings before a tick are those of ``ts <= t``.
A watcher follows the workers' reports as the sweeper does and, each time the barrier rises,
counts those rows: all of them must be there already.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from envgrid_cloud.ingest.feed_clock import BarrierFollower, worker_ids
from envgrid_common.clock import EPOCH, encode_tick, from_ns
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.topics import Topics
from tests.integration.test_ingest_support import (
    BASE_TS,
    NODES,
    count,
    ingest_settings,
    publisher,
    reading,
    running,
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
        with running(settings, 0) as first, running(settings, 1) as second:
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
