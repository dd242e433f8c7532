"""Publishing a feed back: recorded order, recorded pace (or N× or as fast as the broker
takes it), a window of QoS 1 messages in flight, and the place of the last settled record.

The network thread (a :class:`~envgrid_common.netloop.NetLoop`) publishes while fewer than
``window`` messages await their PUBACK, and settles each on its PUBACK. At full speed it also
reads the feed itself, as the window lets it (no hand-over between threads, no waiting for the
interpreter lock); at a pace, the caller's thread reads, selects, re-stamps, waits for each
message's time and hands batches over. One connection and one queue keep the recorded order,
hence every node's order.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.clock import encode_tick
from envgrid_common.mqtt import BrokerAddress, PublishRefused, check_publish, connect
from envgrid_common.netloop import NetLoop
from envgrid_sim.feeds.client import new_replay_client
from envgrid_sim.feeds.format import FeedRecord, unpack_properties
from envgrid_sim.feeds.plan import Planner, Restamp, Selection, restamper
from envgrid_sim.feeds.reader import FeedReader, TornTail
from envgrid_sim.feeds.resume import START, Position

log = logging.getLogger("envgrid.sim.replay")

# Messages handed to the network thread at once, and how many may wait there unpublished.
BATCH = 256
QUEUED_MAX = 8 * BATCH
# Sleeps shorter than this are not worth it: the message goes with the batch at hand.
PACE_SLACK_S = 0.002
FIRST_FAILURE = 0x80  # MQTT 5 reason codes from here on are refusals


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to replay."""

    speed: float | None = 1.0  # × the recorded pace; None: as fast as the broker takes it
    window: int = 1000  # QoS 1 messages awaiting PUBACK at most
    offset_s: int = 0  # added to every reading's and detection's ts (and to feed times)
    historical: bool | None = None  # set readings' and detections' ``historical``; None: keep
    selection: Selection = field(default_factory=Selection)
    client_id: str = ""
    clock_topic: str | None = None  # publish feed clock ticks here (--feed-clock); None: none
    tick_s: float = 10.0  # feed seconds between two ticks


@dataclass(slots=True)
class Outgoing:
    """One message on its way: where it comes from in the feed, and what is published."""

    position: Position
    feed_ns: int  # the record's receive time plus the replay's offset: the feed's clock
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: bytes
    node_id: str | None
    tick: bool = False  # a feed clock tick (not from the feed): everything up to it was sent


@dataclass(slots=True)
class _Mark:
    """In the queue after a batch: every record before ``position`` was handed over or skipped."""

    position: Position


@dataclass(slots=True)
class _Pending:
    position: Position
    feed_ns: int
    done: bool = False
    tick: bool = False


@dataclass
class ReplayCounts:
    """What a replay did."""

    read: int = 0
    published: int = 0
    acknowledged: int = 0
    refused: int = 0
    skipped: int = 0
    bytes: int = 0
    ticks: int = 0  # feed clock ticks published (--feed-clock)
    refusals: Counter[str] = field(default_factory=Counter)
    tails: list[TornTail] = field(default_factory=list)


Hook = Callable[[Outgoing], None]


class Replayer:
    """Replays feed files into one broker; see the module's description.

    ``hooks`` are called for each message just before it is published, in feed order, with its
    feed time (``Outgoing.feed_ns``), on the network thread (so they must be quick): what a
    replay on the feed's clock, or a what-if run, needs to follow along. :attr:`settled` is the
    place to resume from, :attr:`settled_feed_ns` how far the broker has taken the feed.
    """

    def __init__(
        self,
        address: BrokerAddress,
        files: Sequence[Path],
        options: ReplayOptions,
        *,
        hooks: Sequence[Hook] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._address = address
        self._files = list(files)
        self._options = options
        self._hooks = tuple(hooks)
        self._monotonic = monotonic
        self._planner = Planner(options.selection)
        self._restamp: Restamp | None = restamper(options.offset_s, options.historical)
        self._offset_ns = options.offset_s * 1_000_000_000
        self.counts = ReplayCounts()
        self._window = max(1, options.window)
        self._queue: deque[Outgoing | _Mark] = deque()
        self._room = threading.Event()
        self._in_flight: dict[int, _Pending] = {}
        self._order: deque[_Pending] = deque()
        self._handed: Position = START
        self._settled_ns = 0
        self._ended = False
        self._source: Iterator[Outgoing | _Mark] | None = None
        self._drained = threading.Event()
        self._connected = threading.Event()
        self._refused_connect: str | None = None
        self._loop = NetLoop("envgrid-replay")
        client_id = options.client_id or f"envgrid-replay-{uuid.uuid4().hex[:8]}"
        self._client = new_replay_client(client_id, address)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish

    # The caller's thread -----------------------------------------------------------------------
    def connect(self, timeout_s: float = 10.0) -> None:
        """Connect; raise ConnectionError if the broker cannot be reached or refuses."""
        connect(self._client, self._address)
        self._loop.add(self._client)
        self._loop.start()
        if not self._connected.wait(timeout_s) or self._refused_connect:
            self._loop.stop()
            why = self._refused_connect or f"no connection in {timeout_s:g} s"
            raise ConnectionError(f"broker {self._address}: {why}")

    def run(self, start: Position = START, stop: threading.Event | None = None) -> ReplayCounts:
        """Replay from ``start`` until the end of the feed or ``stop``; wait for the PUBACKs
        with :meth:`finish`.

        At full speed the network thread itself reads the feed as the window lets it (no
        hand-over between threads, no waiting for the interpreter lock); when paced, this
        thread reads, waits for each message's time and hands batches over.
        """
        stop = stop or threading.Event()
        self._handed = start
        messages = self._messages(start)
        if self._options.speed is None:
            self._loop.call(lambda: self._feed_from(messages))
            while not self._drained.wait(0.1) and not stop.is_set():
                pass
        else:
            self._run_paced(messages, self._options.speed, stop)
        return self.counts

    def _run_paced(
        self, messages: Iterator[Outgoing | _Mark], speed: float, stop: threading.Event
    ) -> None:
        batch: list[Outgoing | _Mark] = []
        began = self._monotonic()
        first_ns: int | None = None
        for item in messages:
            if stop.is_set():
                return
            if isinstance(item, Outgoing):
                if first_ns is None:
                    first_ns = item.feed_ns
                wait = began + (item.feed_ns - first_ns) / 1e9 / speed - self._monotonic()
                if wait > PACE_SLACK_S:
                    self._hand_over(batch, stop)
                    batch = [_Mark(item.position)]
                    if stop.wait(wait):
                        return
            batch.append(item)
            if len(batch) >= BATCH:
                self._hand_over(batch, stop)
                batch = []
        self._hand_over(batch, stop)
        self._loop.submit(self._end)

    def _messages(self, start: Position) -> Iterator[Outgoing | _Mark]:
        """What to publish from ``start`` on (clock ticks too, if asked); a mark at the end."""
        end = start
        ticks = _Ticks(self._options) if self._options.clock_topic else None
        for position, record in self._records(start):
            end = (position[0], position[1] + 1)
            out = self._outgoing(position, record)
            if out is None:
                continue
            if ticks is not None:
                yield from ticks.before(out)
            yield out
        if ticks is not None:
            yield from ticks.last(end)
        yield _Mark(end)

    def finish(self, timeout_s: float) -> bool:
        """Wait for the PUBACKs of what was published; False if some did not come in time."""
        done = self._drained.wait(timeout_s)
        if not self._loop.disconnect(self._client, 5.0):
            log.warning("replay: no clean disconnect from %s", self._address)
        self._loop.stop()
        return done

    def abandon(self) -> None:
        """Drop what is queued and not yet published (an interrupted replay)."""
        self._loop.call(self._drop_queued)

    @property
    def settled(self) -> Position:
        """The first record not settled yet: every one before it is acknowledged, refused or
        skipped (the place a resumed replay starts from)."""
        return self._loop.call(self._settled_now) if self._loop.running else self._settled_now()

    @property
    def settled_feed_ns(self) -> int:
        """The feed time of the last QoS 1 message acknowledged with all before it (0: none yet):
        how far a follower of the feed's clock may move, the broker having taken it all."""
        return self._settled_ns

    @property
    def in_flight(self) -> int:
        """Messages awaiting their PUBACK."""
        return len(self._in_flight)

    def _records(self, start: Position) -> Iterator[tuple[Position, FeedRecord]]:
        first_file, first_record = start
        for index in range(first_file, len(self._files)):
            reader = FeedReader(self._files[index])
            skip = first_record if index == first_file else 0
            for number, record in enumerate(reader.records(skip), skip):
                self.counts.read += 1
                yield (index, number), record
            if reader.tail is not None:
                self.counts.tails.append(reader.tail)
                log.warning("%s", reader.tail)

    def _outgoing(self, position: Position, record: FeedRecord) -> Outgoing | None:
        plan = self._planner.plan(record.topic)
        if plan.topic is None:
            self.counts.skipped += 1
            return None
        payload = record.payload
        if plan.stamped and self._restamp is not None:
            payload = self._restamp(payload)
        return Outgoing(
            position,
            record.time_ns + self._offset_ns,
            plan.topic,
            payload,
            record.qos,
            record.retain,
            record.properties,
            plan.node_id,
        )

    def _hand_over(self, batch: list[Outgoing | _Mark], stop: threading.Event) -> None:
        """Queue a batch for the network thread, waiting while too much is queued."""
        if not batch:
            return
        queue = self._queue
        while len(queue) >= QUEUED_MAX and not stop.is_set():
            self._room.clear()
            if len(queue) >= QUEUED_MAX:  # the network thread may have made room meanwhile
                self._room.wait(0.1)
        queue.extend(batch)
        self._loop.submit(self._pump)

    # The network thread ------------------------------------------------------------------------
    def _pump(self) -> None:
        queue, in_flight, window = self._queue, self._in_flight, self._window
        counts, hooks = self.counts, self._hooks
        source = self._source
        while len(in_flight) < window:
            item: Outgoing | _Mark | None
            if queue:
                item = queue.popleft()
            elif source is not None:
                item = next(source, None)
                if item is None:  # the end of the feed
                    self._source = source = None
                    self._ended = True
                    break
            else:
                break
            if type(item) is _Mark:
                self._handed = item.position
                continue
            assert isinstance(item, Outgoing)
            for hook in hooks:
                hook(item)
            try:
                mid = self._publish(item)
            except (ValueError, PublishRefused) as error:  # a topic or size the client refuses
                counts.refused += 1
                counts.refusals[f"by the client: {error}"] += 1
                self._handed = (item.position[0], item.position[1] + 1)
                continue
            position = item.position
            if item.tick:
                counts.ticks += 1  # a tick precedes the record at its position: not handed yet
            else:
                counts.published += 1
                counts.bytes += len(item.payload)
                self._handed = (position[0], position[1] + 1)
            if item.qos:
                pending = _Pending(position, item.feed_ns, tick=item.tick)
                in_flight[mid] = pending
                self._order.append(pending)
        if len(queue) < QUEUED_MAX // 2 and not self._room.is_set():
            self._room.set()
        self._check_drained()

    def _publish(self, item: Outgoing) -> int:
        """Hand one message to paho; its message id."""
        client = self._client
        if item.qos and not item.properties:
            return client.publish_qos1(item.topic, item.payload, item.retain)
        properties = unpack_properties(item.properties) if self._address.v5 else None
        info = client.publish(item.topic, item.payload, item.qos, item.retain, properties)
        return check_publish(info).mid

    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reason: ReasonCode, _props: Any
    ) -> None:
        pending = self._in_flight.pop(mid, None)
        if pending is None:
            return  # a QoS 0 message, settled when it was written
        if reason.value >= FIRST_FAILURE:
            self.counts.refused += 1
            self.counts.refusals[str(reason)] += 1
        elif not pending.tick:
            self.counts.acknowledged += 1
        pending.done = True
        order = self._order
        while order and order[0].done:
            self._settled_ns = order.popleft().feed_ns
        if self._queue or self._source is not None:
            self._pump()
        else:
            self._check_drained()

    def _on_connect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            self._refused_connect = str(reason)
        else:
            # The broker's Receive Maximum bounds our window: more in flight breaks the session.
            limit = getattr(props, "ReceiveMaximum", None)
            if limit and limit < self._window:
                log.info("replay: the broker takes %d messages in flight; window lowered", limit)
                self._window = limit
        self._connected.set()

    def _on_disconnect(self, *_: Any) -> None:
        if not self._drained.is_set():
            log.warning(
                "replay: connection to %s lost; %d message(s) wait for the reconnect",
                self._address,
                len(self._in_flight),
            )

    def _feed_from(self, messages: Iterator[Outgoing | _Mark]) -> None:
        self._source = messages
        self._pump()

    def _end(self) -> None:
        self._ended = True
        self._check_drained()

    def _check_drained(self) -> None:
        if self._ended and not self._queue and not self._in_flight:
            self._drained.set()

    def _drop_queued(self) -> None:
        self._source = None
        queue = self._queue
        if queue:
            first = queue[0]
            self._handed = first.position
            queue.clear()
        self._ended = True
        self._room.set()
        self._check_drained()

    def _settled_now(self) -> Position:
        order = self._order
        return order[0].position if order else self._handed


class _Ticks:
    """Feed clock ticks at every multiple of ``tick_s`` of feed time: a tick at T goes out after
    every message of feed time ≤ T and before the first later one (one connection keeps that
    order all the way to each subscriber)."""

    def __init__(self, options: ReplayOptions) -> None:
        assert options.clock_topic is not None
        self._topic = options.clock_topic
        self._step = max(1, round(options.tick_s * 1e9))
        self._next: int | None = None  # the next tick's feed time
        self._last_ns = 0

    def before(self, out: Outgoing) -> Iterator[Outgoing]:
        """The ticks due before ``out``: the feed's start, then every one passed since."""
        feed_ns = out.feed_ns
        if self._next is None:
            # The first tick sets the clock at the feed's start, before its first message.
            start = feed_ns // self._step * self._step
            yield self._tick(start, out.position)
            self._next = start + self._step
        while self._next < feed_ns:
            yield self._tick(self._next, out.position)
            self._next += self._step
        self._last_ns = max(self._last_ns, feed_ns)

    def last(self, end: Position) -> Iterator[Outgoing]:
        """The closing tick, at the last message's time: every decision due by then is made."""
        if self._next is not None:
            yield self._tick(self._last_ns, end, last=True)

    def _tick(self, feed_ns: int, position: Position, last: bool = False) -> Outgoing:
        payload = encode_tick(feed_ns, last=last)
        return Outgoing(position, feed_ns, self._topic, payload, 1, False, b"", None, True)
