"""The feed's clock: ticks in a replay, in the ingest's batches, its reports, the sweeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from envgrid_cloud.cases.sweeps import Sweep
from envgrid_cloud.feed_sweeper import MAX_SWEEP_GAP_NS, FeedSweeper, due, sweep_times
from envgrid_cloud.ingest.batch import FEED_BATCH_SPAN_NS, Batch, Batcher
from envgrid_cloud.ingest.feed_clock import Barrier, BarrierFollower, FeedGate, TickReports
from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import (
    FeedClock,
    ManualSeconds,
    decode_tick,
    encode_tick,
    from_ns,
    is_last_tick,
)
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.topics import Topics
from envgrid_sim.feeds.replayer import Outgoing, Replayer, ReplayOptions
from envgrid_sim.feeds.resume import START
from envgrid_sim.feeds.writer import FeedWriter

TOPICS = Topics("fc")
S = 1_000_000_000


def test_a_feed_clock_moves_forward_only() -> None:
    clock = FeedClock()
    assert clock.advance_to(5 * S)
    assert not clock.advance_to(4 * S)
    assert clock() == clock.now() == from_ns(5 * S)
    assert decode_tick(encode_tick(7 * S)) == 7 * S
    for bad in (b"", b"{}", b'{"feed_ns": -1}', b'{"feed_ns": "1"}', b"[1]"):
        with pytest.raises(ValueError, match="not a feed clock tick"):
            decode_tick(bad)


def _ticked(tmp_path: Path, times_s: list[float], tick_s: float) -> list[Outgoing]:
    path = tmp_path / "f.egfeed"
    writer = FeedWriter(path, {})
    for n, at in enumerate(times_s):
        writer.add(round(at * S), TOPICS.readings("n1").encode(), 1, False, b"", b"%d" % n)
    writer.close()
    options = ReplayOptions(speed=None, clock_topic=TOPICS.clock(), tick_s=tick_s)
    replayer = Replayer(BrokerAddress.parse("mqtt://127.0.0.1:1"), [path], options)
    return [m for m in replayer._messages(START) if isinstance(m, Outgoing)]


def test_a_tick_follows_every_message_up_to_its_time_and_precedes_the_rest(
    tmp_path: Path,
) -> None:
    sent = _ticked(tmp_path, [100.2, 100.9, 101.0, 103.5, 103.6], tick_s=1.0)
    seen = [("tick", m.feed_ns / S) if m.tick else ("msg", m.feed_ns / S) for m in sent]
    assert seen == [
        ("tick", 100.0),  # the feed's start: the clock is set before any message
        ("msg", 100.2),
        ("msg", 100.9),
        ("msg", 101.0),  # a message at 101.0 goes before the tick at 101
        ("tick", 101.0),
        ("tick", 102.0),  # every tick of a silence: sweeps run through it
        ("tick", 103.0),
        ("msg", 103.5),
        ("msg", 103.6),
        ("tick", 103.6),  # the end: decisions due by the last message are made
    ]
    assert all(m.topic == TOPICS.clock() and m.qos == 1 for m in sent if m.tick)
    assert [decode_tick(m.payload) for m in sent if m.tick][-1] == round(103.6 * S)
    assert [is_last_tick(m.payload) for m in sent if m.tick] == [False] * 4 + [True]


def test_no_ticks_without_the_feed_clock(tmp_path: Path) -> None:
    path = tmp_path / "f.egfeed"
    writer = FeedWriter(path, {})
    writer.add(S, TOPICS.readings("n1").encode(), 1, False, b"", b"x")
    writer.close()
    replayer = Replayer(BrokerAddress.parse("mqtt://127.0.0.1:1"), [path], ReplayOptions())
    assert not any(getattr(m, "tick", False) for m in replayer._messages(START))


def _message(topic: str, payload: bytes, mid: int) -> Any:
    return SimpleNamespace(topic=topic, payload=payload, mid=mid, qos=1)


def _reading(at_s: float) -> ReadingRecord:
    return ReadingRecord("n1", from_ns(round(at_s * S)), round(at_s), {"ph": 7.0})


def _drain(batcher: Batcher) -> list[Batch]:
    batcher.close()
    out = []
    while (batch := batcher.take()) is not None:
        out.append(batch)
    return out


def test_ticks_go_into_the_batches_which_are_dated_by_the_tick_before_their_first_message() -> None:
    batcher = Batcher(100, 60.0)
    clock = FeedClock()
    gate = FeedGate(TOPICS, "w0", clock)
    taken: list[Any] = []
    gate.admit(_message(TOPICS.clock(), encode_tick(10 * S), 1), batcher, taken.append)
    gate.admit(_message(TOPICS.readings("n1"), b"r", 2), batcher, taken.append)
    assert clock.feed_ns == 10 * S  # the decoder judges the reading by the tick before it
    assert [m.mid for m in taken] == [2]  # only the reading is decoded
    batcher.add_reading(2, _reading(10.5))
    gate.admit(_message(TOPICS.clock(), b"garbage", 3), batcher, taken.append)
    for at in (12, 14, 16):  # ticks no longer seal a batch each
        gate.admit(_message(TOPICS.clock(), encode_tick(at * S), at), batcher, taken.append)
        batcher.add_reading(100 + at, _reading(at + 0.5))
    (batch,) = _drain(batcher)
    assert batch.clock_ns == 10 * S
    assert batch.tick_ns == 16 * S  # committed, it covers everything before the tick at 16
    assert not batch.last_tick
    assert batch.mids == [1, 2, 3, 12, 112, 14, 114, 16, 116]  # acknowledged in receipt order
    assert len(batch.readings) == 4


def test_a_batch_is_sealed_once_the_feed_moves_on_past_its_clock_by_more_than_the_span() -> None:
    batcher = Batcher(10_000, 3600.0)
    span_s = FEED_BATCH_SPAN_NS // S
    batcher.add_tick(None, 0)
    batcher.add_reading(None, _reading(1))
    for at in range(2, span_s + 1):  # up to the span past its clock: the batch stays open
        batcher.add_tick(None, at * S)
        batcher.add_reading(None, _reading(at + 0.5))
    batcher.add_tick(None, (span_s + 1) * S)  # beyond it: sealed, this tick with it
    batcher.add_reading(None, _reading(span_s + 1.5))
    first, second = _drain(batcher)
    assert (first.clock_ns, first.tick_ns) == (0, (span_s + 1) * S)
    assert len(first.readings) == span_s
    assert second.clock_ns == (span_s + 1) * S  # the next one is dated by the tick before it
    assert second.tick_ns is None
    assert len(second.readings) == 1


def test_a_batch_of_ticks_alone_takes_the_time_of_the_last_and_the_closing_tick_seals() -> None:
    batcher = Batcher(10_000, 3600.0)
    batcher.add_tick(None, 10 * S)
    batcher.add_tick(None, 20 * S)
    batcher.add_reading(None, _reading(21))
    batcher.add_tick(None, 25 * S, last=True)
    batcher.add_status(None, SimpleNamespace())  # type: ignore[arg-type]
    first, after = _drain(batcher)
    assert (first.clock_ns, first.tick_ns, first.last_tick) == (20 * S, 25 * S, True)
    assert after.clock_ns == 25 * S
    assert after.tick_ns is None


def test_ordered_batches_end_at_every_tick_and_wait_for_every_worker_before_their_clock() -> None:
    batcher = Batcher(10_000, 0.0, ordered=True)
    batcher.add_status(None, SimpleNamespace())  # type: ignore[arg-type]  # before any tick
    before = batcher.take()
    assert before is not None
    assert before.clock_ns == 0  # before the feed: goes at once
    batcher.add_tick(1, 10 * S)
    ticks_only = batcher.take()
    assert ticks_only is not None
    assert ticks_only.tick_ns == 10 * S  # nothing to store: goes at once
    batcher.add_reading(2, _reading(10.5))
    batcher.add_tick(3, 12 * S)
    batcher.add_reading(4, _reading(12.5))
    handed: list[Batch] = []
    taker = threading.Thread(target=lambda: handed.append(batcher.take()))  # type: ignore[arg-type]
    taker.start()
    taker.join(0.2)
    assert taker.is_alive(), "the batch dated 10 s waits until every worker is past 10 s"
    batcher.open_to(9 * S)
    taker.join(0.2)
    assert taker.is_alive()
    batcher.open_to(10 * S)
    taker.join(5)
    assert [(b.clock_ns, b.tick_ns, b.mids) for b in handed] == [(10 * S, 12 * S, [2, 3])]
    rest = _drain(batcher)  # a stop hands out what is left, whatever its turn
    assert [(b.clock_ns, b.mids) for b in rest] == [(12 * S, [4])]


def test_reports_are_throttled_but_the_closing_tick_goes_at_once() -> None:
    sent: list[tuple[int, bool]] = []
    wall = ManualSeconds(100.0)
    reports = TickReports(lambda ns, last: sent.append((ns // S, last)), 0.1, wall)
    reports.flush()
    assert sent == []  # nothing committed yet: nothing to say
    reports.committed(10 * S)
    reports.committed(12 * S)
    wall.sleep(0.05)
    reports.committed(14 * S)
    assert sent == [(10, False)]
    wall.sleep(0.06)
    reports.committed(16 * S)
    assert sent == [(10, False), (16, False)]
    reports.committed(15 * S)  # an older tick (redelivered) says nothing new
    assert reports.covered_ns == 16 * S
    reports.committed(18 * S, last=True)
    assert sent[-1] == (18, True)
    reports.flush()  # again, for a sweeper that came later
    assert sent[-2:] == [(18, True), (18, True)]


def test_the_barrier_waits_for_every_worker_and_learns_the_closing_tick() -> None:
    barrier = Barrier(["w0", "w1"])
    assert barrier.report("w0", 20 * S) is None
    assert barrier.report("stranger", 5 * S, last=True) is None
    assert barrier.last_ns is None
    assert barrier.report("w1", 10 * S) == 10 * S
    assert barrier.report("w1", 30 * S) == 20 * S
    assert barrier.report("w1", 10 * S) == 20 * S  # never back
    assert barrier.report("w0", 40 * S, last=True) == 30 * S
    assert barrier.last_ns == 40 * S
    moves: list[tuple[int, int | None]] = []
    follower = BarrierFollower(
        BrokerAddress.parse("mqtt://127.0.0.1:1"), TOPICS, ["w0"], "t", lambda *m: moves.append(m)
    )
    message = mqtt.MQTTMessage(topic=TOPICS.clock_ingested("w0").encode())
    for payload in (b"not a tick", encode_tick(5 * S), encode_tick(5 * S, last=True)):
        message.payload = payload
        follower._on_message(follower._client, None, message)
    assert moves == [(5 * S, None), (5 * S, 5 * S)]  # a move, then the closing tick learnt
    sweep = Sweep("s", 30.0, lambda conn, now: None)
    assert not due(sweep, None, 31 * S)  # the start: an interval has yet to pass
    assert not due(sweep, 31 * S, 59 * S)
    assert due(sweep, 59 * S, 60 * S)
    assert due(sweep, 1 * S, 200 * S)  # several boundaries passed: it runs once


M = 60 * S


def test_sweeps_run_at_the_latest_due_point_passed_and_at_most_five_minutes_apart() -> None:
    steps = [30 * S, 300 * S]
    assert MAX_SWEEP_GAP_NS == 5 * M
    assert sweep_times(0, 29 * S, steps) == []  # no due point passed
    assert sweep_times(0, 30 * S, steps) == [30 * S]
    assert sweep_times(0, 100 * S, steps) == [90 * S]  # the latest: 30 and 60 s are covered
    assert sweep_times(95 * S, 100 * S, steps) == []
    assert sweep_times(95 * S, 395 * S, steps) == [390 * S]  # 295 s: within the bound
    # A jump of an hour: every 5 minutes, then the latest.
    times = sweep_times(10 * S, 60 * M + 10 * S, steps)
    assert times[0] == 5 * M  # the latest due point within 5 minutes of 10 s
    assert times[-1] == 60 * M
    gaps = [b - a for a, b in zip([10 * S, *times], times, strict=False)]
    assert all(0 < gap <= 5 * M for gap in gaps), gaps
    # Due points further apart than the bound: the first one after each.
    assert sweep_times(0, 25 * M, [600 * S]) == [10 * M, 20 * M]


class _Pool:
    @contextmanager
    def connection(self) -> Iterator[None]:
        yield None


def test_the_sweeper_runs_due_sweeps_on_their_points_and_every_sweep_at_the_end() -> None:
    ran: list[tuple[str, int]] = []

    def sweep(name: str, interval_s: float) -> Sweep:
        def run(_conn: Any, now: datetime) -> None:
            ran.append((name, round(now.timestamp()) * S))

        return Sweep(name, interval_s, run)

    sweeps = [sweep("nodata", 30.0), sweep("dayclose", 300.0)]
    sweeper = FeedSweeper(CloudSettings(), sweeps, _Pool())  # type: ignore[arg-type]
    sweeper.sweep_to(100 * S)
    assert ran == []  # the feed's start: an interval has yet to pass
    assert sweeper.done_ns == 100 * S
    moments: list[int] = []
    sweeper.sweep_to(100 * S + 12 * M, moments.append)
    assert sweeper.done_ns == 100 * S + 12 * M
    # 1:40 + 5 min = 6:40, the latest due point by then 6:30; 11:30; then the latest, 13:30.
    assert moments == [390 * S, 690 * S, 810 * S]
    assert ran == [
        ("nodata", 390 * S),
        ("dayclose", 390 * S),  # 5:00 passed since 1:40
        ("nodata", 690 * S),
        ("dayclose", 690 * S),  # 10:00
        ("nodata", 810 * S),
    ]
    ran.clear()
    sweeper.sweep_at_end(845 * S)  # the closing tick: due points first, then every sweep there
    assert ran == [("nodata", 840 * S), ("nodata", 845 * S), ("dayclose", 845 * S)]
    assert sweeper.done_ns == 845 * S
