"""Batching, ordering and connection generations of the ingest's batcher."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from envgrid_cloud.ingest.batch import BATCH_SNAPSHOT_BYTES, Batch, Batcher
from envgrid_cloud.observations import DeadLetterRecord, ReadingRecord, SnapshotRecord, StatusRecord
from envgrid_common.clock import ManualSeconds
from envgrid_common.messages import NodeState

TS = datetime(2026, 5, 1, tzinfo=UTC)


def row(seq: int) -> ReadingRecord:
    return ReadingRecord("n1", TS, seq, {"cod": 1.0})


def test_a_full_batch_is_sealed_and_taken_at_once_with_mids_in_receipt_order() -> None:
    clock = ManualSeconds(100.0)
    batcher = Batcher(max_size=4, interval_s=60, clock=clock)
    batcher.add_reading(1, row(1))
    batcher.add_dead_letter(2, DeadLetterRecord(b"f", "s", "t", "r", "p", "utf-8", TS))
    batcher.add_ack_only(3)
    batcher.add_status(None, StatusRecord("n1", NodeState.ONLINE, TS))  # QoS 0: nothing to ack
    batcher.add_reading(5, row(5))
    first = batcher.take()  # due in 60 s, but full: no wait
    assert first is not None
    assert first.size == 4
    assert first.mids == [1, 2, 3]
    assert [r.seq for r in first.readings] == [1]
    assert len(first.dead_letters) == len(first.statuses) == 1
    assert batcher.received == 5
    assert batcher.held == 5
    assert batcher.oldest_started() == clock.now  # the first batch, taken but not acked
    clock.now += 1
    batcher.acknowledge(first, lambda mid: None)
    assert batcher.held == 1
    assert batcher.oldest_started() == clock.now - 1  # the second batch, begun with the first


def test_a_partial_batch_is_taken_when_its_interval_has_passed() -> None:
    batcher = Batcher(max_size=1000, interval_s=0.15)
    taken: list[Batch | None] = []
    thread = threading.Thread(target=lambda: taken.append(batcher.take()))
    started = time.monotonic()
    thread.start()
    batcher.add_reading(7, row(7))
    time.sleep(0.05)
    batcher.add_reading(8, row(8))
    thread.join(5)
    assert time.monotonic() - started >= 0.14
    assert taken[0] is not None
    assert taken[0].mids == [7, 8]


def test_acks_of_a_batch_from_an_earlier_connection_are_skipped() -> None:
    batcher = Batcher(max_size=100, interval_s=0.0)
    batcher.add_reading(1, row(1))
    batcher.new_connection()  # seals the batch of the old connection
    batcher.add_reading(1, row(1))  # the broker redelivers it, with the same packet id
    old, new = batcher.take(), batcher.take()
    assert old is not None
    assert new is not None
    assert old.generation != new.generation
    assert batcher.held == 1  # the old connection's message comes again: counted once
    acked: list[int] = []
    assert batcher.acknowledge(old, acked.append) is False
    assert acked == []
    assert batcher.held == 1
    assert batcher.acknowledge(new, acked.append) is True
    assert acked == [1]
    assert batcher.held == 0
    assert batcher.oldest_started() is None


def test_held_counts_what_is_received_and_not_yet_acked_across_batches() -> None:
    clock = ManualSeconds(100.0)
    batcher = Batcher(max_size=2, interval_s=60, clock=clock)
    for mid in range(1, 6):
        batcher.add_reading(mid, row(mid))
        clock.now += 1
    assert batcher.held == 5
    assert batcher.oldest_started() == 100.0
    batches = [batcher.take(), batcher.take()]
    for batch in batches:
        assert batch is not None
        batcher.acknowledge(batch, lambda mid: None)
    assert batcher.held == 1
    assert batcher.oldest_started() == 104.0  # the fifth message's batch
    batcher.new_connection()
    assert batcher.held == 0
    assert batcher.oldest_started() is None


def test_close_hands_out_what_is_left_then_none_and_ignores_later_messages() -> None:
    batcher = Batcher(max_size=2, interval_s=60)
    for mid in (1, 2, 3):
        batcher.add_reading(mid, row(mid))
    batcher.close()
    batcher.add_reading(4, row(4))  # left unacked: the broker will redeliver it
    batches = [batcher.take(), batcher.take(), batcher.take()]
    assert [b.mids if b else None for b in batches] == [[1, 2], [3], None]
    assert batcher.received == 3


def test_a_taker_blocked_on_an_empty_batcher_wakes_on_close() -> None:
    batcher = Batcher(max_size=10, interval_s=60)
    taken: dict[str, Batch | None] = {}

    def take() -> None:
        taken["batch"] = batcher.take()

    thread = threading.Thread(target=take)
    thread.start()
    time.sleep(0.05)
    batcher.close()
    thread.join(5)
    assert not thread.is_alive()
    assert taken == {"batch": None}


def test_concurrent_producer_and_writer_ack_every_message_once_in_order() -> None:
    batcher = Batcher(max_size=97, interval_s=0.002)
    total = 20_000
    acked: list[int] = []

    def writer() -> None:
        while (batch := batcher.take()) is not None:
            assert len(batch.readings) == batch.size <= 97
            batcher.acknowledge(batch, acked.append)

    thread = threading.Thread(target=writer)
    thread.start()
    for mid in range(1, total + 1):
        batcher.add_reading(mid, row(mid))
    batcher.close()
    thread.join(10)
    assert acked == list(range(1, total + 1))
    assert batcher.held == 0


def test_snapshots_seal_a_batch_by_their_bytes_and_count_as_held_until_acked() -> None:
    clock = ManualSeconds(100.0)
    batcher = Batcher(max_size=1000, interval_s=60, clock=clock)
    half = BATCH_SNAPSHOT_BYTES // 2
    for mid in (1, 2, 3):
        batcher.add_snapshot(mid, SnapshotRecord("cam", f"e{mid}", TS, "t", bytes(half)))
    first = batcher.take()  # two halves fill it: sealed although far from max_size
    assert first is not None
    assert [s.event_id for s in first.snapshots] == ["e1", "e2"]
    assert first.snapshot_bytes == 2 * half
    assert batcher.held_bytes == 3 * half
    batcher.acknowledge(first, lambda mid: None)
    assert batcher.held_bytes == half
    batcher.new_connection()  # whatever was held comes again on the next connection
    assert batcher.held_bytes == 0
