"""The ingest's side of a replayed feed's clock (``ENVGRID_CLOCK=feed``): ticks, reports, barrier.

A tick moves the decoder's clock and goes into the current batch (see
:meth:`~envgrid_cloud.ingest.batch.Batcher.add_tick`); once a batch holding a tick is
committed, everything the worker received before that tick is, and the worker says so on
``clock/ingested/{worker}`` (:class:`TickReports`). The lowest tick every worker has reported
is the barrier (:class:`Barrier`, followed by :class:`BarrierFollower`): the feed sweeper runs
the sweeps up to it, and workers that share one node's readings commit in its order by it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_cloud.ingest.batch import Batcher
from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import FeedClock, decode_tick, is_last_tick
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from envgrid_common.topics import Topics

log = logging.getLogger("envgrid.feedclock")

# A worker reports its committed tick at most this often (wall seconds): a report a batch at
# full replay speed would be hundreds a second for the sweeper to read, and sweeps every 30 s
# of feed time gain nothing from more. The closing tick is reported at once.
REPORT_INTERVAL_S = 0.1


def worker_ids(settings: CloudSettings) -> list[str]:
    """The client ids of this cloud's ingest workers (those the barrier waits for)."""
    return [f"{settings.ingest_client_id}-{i}" for i in range(settings.ingest_workers)]


class FeedGate:
    """Where a worker's messages meet the ticks: ticks into the batches, the rest to ``take``."""

    def __init__(self, topics: Topics, worker_id: str, clock: FeedClock) -> None:
        self._tick_topic = topics.clock()
        self._clock = clock
        self._worker_id = worker_id

    def admit(
        self,
        message: mqtt.MQTTMessage,
        batcher: Batcher,
        take: Callable[[mqtt.MQTTMessage], None],
    ) -> None:
        """Take in ``message``: a tick into ``batcher`` (and the decoder's clock), else ``take``."""
        if message.topic != self._tick_topic:
            take(message)
            return
        mid = message.mid if message.qos else None
        try:
            feed_ns = decode_tick(message.payload)
        except ValueError:
            log.warning("%s: not a feed clock tick: %r", self._worker_id, message.payload[:80])
            batcher.add_ack_only(mid)
            return
        # The decoder judges what follows by this tick; the batches by the tick before them.
        self._clock.advance_to(feed_ns)
        batcher.add_tick(mid, feed_ns, last=is_last_tick(message.payload))


class TickReports:
    """A worker's reports of the latest tick before which everything it received is committed.

    Called on the network loop's thread: :meth:`committed` after each committed batch with a
    tick (sent if ``interval_s`` has passed since the last report, or at once for the closing
    tick), :meth:`flush` now and then (sends what is pending, or the last report again: a
    sweeper that connected later, or lost it, learns it then).
    """

    def __init__(
        self,
        publish: Callable[[int, bool], object],
        interval_s: float = REPORT_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publish = publish
        self._interval_s = interval_s
        self._monotonic = monotonic
        self._covered: int | None = None
        self._last = False
        self._sent: int | None = None
        self._sent_at = -float("inf")

    @property
    def covered_ns(self) -> int | None:
        """The latest tick before which everything received is committed (None: none yet)."""
        return self._covered

    def committed(self, tick_ns: int, last: bool = False) -> None:
        """A batch holding the tick at ``tick_ns`` is committed (and all before it)."""
        if self._covered is not None and tick_ns < self._covered:
            return
        self._covered = tick_ns
        self._last = last
        if last or self._monotonic() - self._sent_at >= self._interval_s:
            self._send()

    def flush(self) -> None:
        """Send the covered tick (again, if it was sent already)."""
        if self._covered is not None:
            self._send()

    def _send(self) -> None:
        assert self._covered is not None
        self._sent, self._sent_at = self._covered, self._monotonic()
        self._publish(self._covered, self._last)


class Barrier:
    """The feed time every expected worker has committed up to (None until all reported)."""

    def __init__(self, workers: Sequence[str]) -> None:
        self._reported: dict[str, int] = dict.fromkeys(workers, -1)
        self.last_ns: int | None = None  # the closing tick's time, once a worker reported it

    def report(self, worker: str, feed_ns: int, last: bool = False) -> int | None:
        """Note ``worker`` at ``feed_ns`` (the closing tick if ``last``); the barrier now."""
        if worker in self._reported:
            self._reported[worker] = max(self._reported[worker], feed_ns)
            if last:
                self.last_ns = max(self.last_ns or feed_ns, feed_ns)
        return self.value

    @property
    def value(self) -> int | None:
        """The lowest tick reported, once every worker has reported one."""
        low = min(self._reported.values(), default=-1)
        return low if low >= 0 else None


class BarrierFollower:
    """Follows the workers' reports on a connection of its own; ``on_move(barrier, last_ns)``
    is called (on paho's thread) whenever the barrier rises or the closing tick is learnt.

    Its own connection, so that a worker's network loop, which stops reading while it holds
    its Receive Maximum, never keeps a report from it.
    """

    def __init__(
        self,
        address: BrokerAddress,
        topics: Topics,
        workers: Sequence[str],
        client_id: str,
        on_move: Callable[[int, int | None], object],
    ) -> None:
        self._address = address
        self._filter = topics.any_clock_ingested()
        self._barrier = Barrier(workers)
        self._on_move = on_move
        self._client = new_client(client_id, address)
        self.subscribed = threading.Event()  # set once the broker holds the subscription
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self.subscribed.set()
        self._client.on_message = self._on_message

    def start(self) -> BarrierFollower:
        """Connect and follow."""
        connect(self._client, self._address)
        self._client.loop_start()
        return self

    def stop(self) -> None:
        """Stop following."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if not reason.is_failure:
            client.subscribe(self._filter, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        worker = message.topic.rsplit("/", 1)[-1]
        try:
            feed_ns = decode_tick(message.payload)
        except ValueError:
            log.warning("feed clock: not a tick from %s: %r", worker, message.payload[:80])
            return
        barrier = self._barrier
        before = (barrier.value, barrier.last_ns)
        value = barrier.report(worker, feed_ns, is_last_tick(message.payload))
        if value is not None and (value, barrier.last_ns) != before:
            self._on_move(value, barrier.last_ns)
