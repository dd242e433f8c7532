"""The feed's clock: ticks in a replay, the ingest held at each, the sweeps' barrier."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from envgrid_cloud.cases.sweeps import Sweep
from envgrid_cloud.feed_sweeper import Barrier, due
from envgrid_cloud.ingest.batch import Batcher
from envgrid_cloud.ingest.worker import FeedGate
from envgrid_common.clock import FeedClock, decode_tick, encode_tick, from_ns, is_last_tick
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


class _Ingest:
    """A worker's feed gate and batcher; what the gate lets through is taken and acknowledged."""

    def __init__(self) -> None:
        self.batcher = Batcher(100, 0.01)
        self.clock = FeedClock()
        self.gate = FeedGate(TOPICS, "w0", self.clock)
        self.taken: list[bytes] = []

    def admit(self, message: Any) -> None:
        """Offer ``message`` to the gate, as the worker's on-message does."""
        self.gate.admit(message, self.batcher, self._take)

    def _take(self, message: Any) -> None:
        self.taken.append(message.payload)
        self.batcher.add_ack_only(message.mid)


def test_the_ingest_holds_what_follows_a_tick_until_the_sweeps_reach_it() -> None:
    ingest = _Ingest()
    readings = TOPICS.readings("n1")
    ingest.admit(_message(readings, b"a", 1))
    ingest.admit(_message(TOPICS.clock(), encode_tick(10 * S), 2))
    ingest.admit(_message(readings, b"b", 3))
    assert ingest.taken == [b"a"]
    assert ingest.gate.paused
    assert ingest.clock.feed_ns == 10 * S
    first, tick = ingest.batcher.take(), ingest.batcher.take()
    assert first is not None
    assert first.mids == [1]
    assert first.tick_ns is None
    assert tick is not None
    assert tick.tick_ns == 10 * S
    assert tick.mids == [2]
    ingest.admit(_message(TOPICS.clock_swept(), encode_tick(9 * S), 4))
    assert ingest.taken == [b"a"], "swept short of the tick: still held"
    ingest.admit(_message(TOPICS.clock_swept(), encode_tick(10 * S), 5))
    assert ingest.taken == [b"a", b"b"]
    assert not ingest.gate.paused
    after = ingest.batcher.take()
    assert after is not None
    assert after.clock_ns == 10 * S


def test_the_barrier_waits_for_every_worker_and_sweeps_run_on_their_boundaries() -> None:
    barrier = Barrier(["w0", "w1"])
    assert barrier.report("w0", 20 * S) is None
    assert barrier.report("stranger", 5 * S) is None
    assert barrier.report("w1", 10 * S) == 10 * S
    assert barrier.report("w1", 30 * S) == 20 * S
    sweep = Sweep("s", 30.0, lambda conn, now: None)
    assert not due(sweep, None, 31 * S)  # the start: an interval has yet to pass
    assert not due(sweep, 31 * S, 59 * S)
    assert due(sweep, 59 * S, 60 * S)
    assert due(sweep, 1 * S, 200 * S)  # several boundaries passed: it runs once


def test_between_sweeps_due_ticks_move_the_clock_without_holding_the_ingest() -> None:
    ingest = _Ingest()
    readings = TOPICS.readings("n1")
    ingest.admit(_message(TOPICS.clock(), encode_tick(0), 1))
    assert ingest.gate.paused  # the feed's start: held until the sweeper has answered once
    ingest.admit(_message(TOPICS.clock_swept(), encode_tick(0, 30 * S), 2))
    assert not ingest.gate.paused
    for n, at in enumerate((10, 20), start=3):
        ingest.admit(_message(TOPICS.clock(), encode_tick(at * S), n))
        ingest.admit(_message(readings, b"r%d" % at, n + 10))
        assert not ingest.gate.paused, "no sweep is due before 30 s"
    assert ingest.clock.feed_ns == 20 * S
    ingest.admit(_message(TOPICS.clock(), encode_tick(30 * S), 5))
    ingest.admit(_message(readings, b"r30", 15))
    assert ingest.gate.paused
    assert ingest.taken == [b"r10", b"r20"]
    ingest.batcher.close()
    ticks = []
    while (batch := ingest.batcher.take()) is not None:
        if batch.tick_ns is not None:
            ticks.append((batch.tick_ns // S, batch.tick_holds))
    # Only held ticks are reported to the sweeper.
    assert ticks == [(0, True), (10, False), (20, False), (30, True)]
