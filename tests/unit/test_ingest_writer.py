"""The writer: commit before ack, retry through outages, isolate poison rows, resolve nodes."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import psycopg
import pytest

from envgrid_cloud.ingest.batch import Batcher
from envgrid_cloud.ingest.nodes import NodeCache
from envgrid_cloud.ingest.store import Written
from envgrid_cloud.ingest.writer import Writer
from envgrid_cloud.observations import (
    DeadLetterRecord,
    DetectionRecord,
    ReadingRecord,
    SnapshotRecord,
    StatusRecord,
)
from envgrid_common.clock import ManualSeconds
from envgrid_common.messages import NodeState
from envgrid_common.topics import Topics

TS = datetime(2026, 5, 1, tzinfo=UTC)
TOPICS = Topics("unit/envgrid")


def row(seq: int, node: str = "n1") -> ReadingRecord:
    payload = orjson.dumps({"seq": seq, "ts": TS.isoformat(), "values": {"cod": 1.0}})
    return ReadingRecord(node, TS, seq, {"cod": 1.0}, topic=TOPICS.readings(node), payload=payload)


class FakeStore:
    """Records writes and acks in one timeline; fails as told."""

    def __init__(self, timeline: list[tuple[str, object]]) -> None:
        self.timeline = timeline
        self.failures: deque[Exception] = deque()
        self.poison: set[int] = set()  # reading seqs the "database" refuses
        self.readings: list[ReadingRecord] = []
        self.dead_letters: list[DeadLetterRecord] = []

    def write(
        self,
        readings: Sequence[ReadingRecord],
        statuses: Sequence[StatusRecord],
        dead_letters: Sequence[DeadLetterRecord],
        detections: Sequence[DetectionRecord] = (),
        snapshots: Sequence[SnapshotRecord] = (),
    ) -> Written:
        if self.failures:
            raise self.failures.popleft()
        if any(r.seq in self.poison for r in readings):
            raise psycopg.DataError("invalid input syntax")
        self.readings.extend(readings)
        self.dead_letters.extend(dead_letters)
        self.timeline.append(("write", [r.seq for r in readings]))
        return Written(len(readings), 0, len(dead_letters), len(statuses), len(detections))

    def close(self) -> None:
        self.timeline.append(("close", None))


def make(
    known: tuple[str, ...] = ("n1",), drain_timeout_s: float = 10.0
) -> tuple[Writer, Batcher, FakeStore, list[tuple[str, object]], ManualSeconds]:
    timeline: list[tuple[str, object]] = []
    clock = ManualSeconds()
    batcher = Batcher(max_size=3, interval_s=0.0)
    store = FakeStore(timeline)
    nodes = NodeCache(lambda: known, clock=clock)
    writer = Writer(
        batcher,
        store,
        nodes,
        lambda batch: batcher.acknowledge(batch, lambda mid: timeline.append(("ack", mid))),
        drain_timeout_s=drain_timeout_s,
        clock=clock,
        sleep=clock.sleep,
    )
    return writer, batcher, store, timeline, clock


def run_all(writer: Writer, batcher: Batcher) -> None:
    batcher.close()
    writer.run()


def test_each_batch_is_written_before_its_messages_are_acked_in_order() -> None:
    writer, batcher, _, timeline, _ = make()
    for mid in range(1, 6):
        batcher.add_reading(mid, row(mid))
    run_all(writer, batcher)
    assert timeline == [
        ("write", [1, 2, 3]),
        ("ack", 1),
        ("ack", 2),
        ("ack", 3),
        ("write", [4, 5]),
        ("ack", 4),
        ("ack", 5),
        ("close", None),
    ]
    assert writer.written.stored == 5
    assert writer.batches == 2


def test_an_outage_holds_the_batch_unacked_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer, batcher, store, timeline, clock = make()
    store.failures.extend(psycopg.OperationalError("connection refused") for _ in range(6))
    batcher.add_reading(1, row(1))
    batcher.add_reading(2, row(2))
    with caplog.at_level(logging.WARNING, logger="envgrid.ingest"):
        run_all(writer, batcher)
    assert [e for e in timeline if e[0] != "close"] == [("write", [1, 2]), ("ack", 1), ("ack", 2)]
    assert timeline.count(("close", None)) == 7  # reconnect after each failure, and at the end
    assert clock.now == pytest.approx(0.1 + 0.2 + 0.4 + 0.8 + 1.6 + 3.2)  # backing off
    assert writer.failing_since is None  # working again
    assert writer.last_error is None
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "holding 2 message(s) unacknowledged" in warnings[0]
    assert "work again" in warnings[1]


def test_stopping_during_an_outage_gives_up_after_the_drain_timeout_without_acking() -> None:
    writer, batcher, store, timeline, clock = make(drain_timeout_s=3.0)
    store.failures.extend(psycopg.OperationalError("down") for _ in range(100))
    batcher.add_reading(1, row(1))
    writer.stop()
    writer.run()
    assert not any(kind in ("ack", "write") for kind, _ in timeline)
    assert 3.0 <= clock.now < 8.0


def test_a_row_the_database_refuses_is_dead_lettered_and_the_rest_stored() -> None:
    writer, batcher, store, timeline, _ = make()
    store.poison = {2}
    for mid in (1, 2, 3):
        batcher.add_reading(mid, row(mid))
    run_all(writer, batcher)
    assert [r.seq for r in store.readings] == [1, 3]
    [letter] = store.dead_letters
    assert letter.topic == TOPICS.readings("n1")
    assert letter.reason.startswith("the database refused it: invalid input syntax")
    assert b'"seq":2' in letter.payload.encode()
    assert [mid for kind, mid in timeline if kind == "ack"] == [1, 2, 3]


def test_unknown_nodes_are_looked_up_once_and_dead_lettered_if_still_unknown() -> None:
    loads: list[int] = []
    registry = {"n1"}

    def load() -> frozenset[str]:
        loads.append(1)
        return frozenset(registry)

    timeline: list[tuple[str, object]] = []
    clock = ManualSeconds()
    batcher = Batcher(max_size=10, interval_s=0.0)
    store = FakeStore(timeline)
    nodes = NodeCache(load, clock=clock)
    writer = Writer(batcher, store, nodes, lambda batch: None, clock=clock)
    nodes.refresh_if_stale()
    registry.add("n2")  # registered after the cache was loaded
    clock.now = 5.0  # not stale yet, but a miss may reload
    batcher.add_unresolved(1, replace(row(1, "n2"), topic="t/n2", payload=b"{}"))
    batcher.add_unresolved(2, StatusRecord("n3", NodeState.ONLINE, TS, "t/n3", b"{}"))
    batcher.add_unresolved(3, replace(row(3, "n3"), topic="t/n3", payload=b"{x}"))
    run_all(writer, batcher)
    assert len(loads) == 2  # the first load, then one reload for the whole batch
    assert [(r.node_id, r.seq) for r in store.readings] == [("n2", 1)]
    assert [(d.topic, d.reason) for d in store.dead_letters] == [
        ("t/n3", "unknown node 'n3'"),
        ("t/n3", "unknown node 'n3'"),
    ]


def test_the_node_cache_reloads_when_stale_and_at_most_once_a_second_on_misses() -> None:
    loads: list[float] = []
    clock = ManualSeconds()

    def load() -> set[str]:
        loads.append(clock.now)
        return {"a"}

    cache = NodeCache(load, clock=clock)
    cache.refresh_if_stale()
    cache.refresh_if_stale()
    assert cache.lookup({"a"}) == {"a"}
    assert cache.lookup({"b"}) == frozenset()  # a miss, but loaded 0 s ago
    clock.now = 1.0
    assert cache.lookup({"a", "b"}) == {"a"}  # a miss one second later: reload
    clock.now = 10.5
    cache.refresh_if_stale()  # only 9.5 s since the last load
    clock.now = 11.0
    cache.refresh_if_stale()
    assert loads == [0.0, 1.0, 11.0]


def test_the_writer_thread_stops_when_asked_while_idle() -> None:
    writer, _, _, timeline, _ = make()
    thread = threading.Thread(target=writer.run)
    thread.start()
    writer.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert timeline == [("close", None)]


def test_the_writer_says_what_the_watchdog_needs_while_writes_fail_and_while_one_runs() -> None:
    writer, batcher, store, _, _ = make(drain_timeout_s=0.5)
    seen: list[tuple[float | None, float | None, str | None]] = []

    def failing_write(*_: object) -> Written:
        seen.append((writer.write_started, writer.failing_since, writer.last_error))
        raise psycopg.OperationalError("server closed the connection")

    store.write = failing_write  # type: ignore[method-assign,assignment]
    batcher.add_reading(1, row(1))
    writer.stop()
    writer.run()
    assert seen[0] == (0.0, None, None)  # the first write: under way, nothing failed yet
    assert seen[1][0] == pytest.approx(0.1)  # the retry after backing off 0.1 s
    assert seen[1][1:] == (0.0, "OperationalError: server closed the connection")
    assert writer.write_started is None
    assert writer.last_commit is None


def test_a_commit_is_stamped_on_the_writer_clock() -> None:
    writer, batcher, _, _, clock = make()
    clock.now = 42.0
    batcher.add_reading(1, row(1))
    run_all(writer, batcher)
    assert writer.last_commit == 42.0
    assert writer.last_commit_at is not None
