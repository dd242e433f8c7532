"""Batches of decoded messages, handed from the network thread to the writer thread."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from envgrid_cloud.observations import (
    DeadLetterRecord,
    DetectionRecord,
    NodeRecord,
    ReadingRecord,
    SnapshotRecord,
    StatusRecord,
)

# Snapshots are large (up to megabytes each): a batch is sealed once it carries this many
# bytes of them, so one commit never holds hundreds of megabytes.
BATCH_SNAPSHOT_BYTES = 32 * 1024 * 1024

# On a replayed feed's clock a batch is judged at its clock (the tick before its first
# message), however much later in the feed its last message is: the decoder's plausibility
# checks of readings' times and decided_at's 10-minute grace compare data times with it. So a
# batch is sealed once the feed has moved on this far past its clock: well inside that grace,
# and still many ticks (and, at full speed, thousands of readings) long.
FEED_BATCH_SPAN_NS = 60 * 1_000_000_000


@dataclass(slots=True, eq=False)  # compared by identity: a batch is one thing
class Batch:
    """Messages committed together; ``mids`` are the QoS 1 packet ids to ack, in receipt order."""

    generation: int
    started: float
    size: int = 0
    mids: list[int] = field(default_factory=list)
    readings: list[ReadingRecord] = field(default_factory=list)
    statuses: list[StatusRecord] = field(default_factory=list)
    detections: list[DetectionRecord] = field(default_factory=list)
    snapshots: list[SnapshotRecord] = field(default_factory=list)
    # Bytes of snapshot payloads in the batch (counted by add_snapshot, and for unresolved ones).
    snapshot_bytes: int = 0
    dead_letters: list[DeadLetterRecord] = field(default_factory=list)
    # Valid messages of node ids the registry cache does not know (yet): the writer looks.
    unresolved: list[NodeRecord] = field(default_factory=list)
    # On the feed's clock: its time, the tick before its first message (what it is judged at).
    clock_ns: int = 0
    # The latest feed clock tick in it: once it is committed, so is everything received before.
    tick_ns: int | None = None
    # That tick is a replay's closing one.
    last_tick: bool = False

    @property
    def has_records(self) -> bool:
        """Whether it holds anything to store (not only ticks and messages to acknowledge)."""
        return bool(
            self.readings
            or self.statuses
            or self.detections
            or self.snapshots
            or self.dead_letters
            or self.unresolved
        )


class Batcher:
    """Batches of at most ``max_size`` messages, each due ``interval_s`` after its first one.

    On a replayed feed's clock (:meth:`add_tick`) a batch is also sealed once the feed has moved
    on ``feed_span_ns`` past its clock, and at the closing tick. ``ordered`` (several workers
    sharing one node's readings): every tick seals the batch, and a batch is handed out only
    once every worker has committed what came before its clock (:meth:`open_to`), so that the
    rules judge each node's readings in the feed's order from one tick to the next.

    It also counts what the worker holds: :attr:`held` messages received on the current
    connection and not yet acknowledged (the network loop stops reading at a bound, whatever
    the broker sends), and :meth:`oldest_started` is the receipt time of the oldest of them.
    """

    def __init__(
        self,
        max_size: int,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        feed_span_ns: int = FEED_BATCH_SPAN_NS,
        ordered: bool = False,
    ) -> None:
        self._max_size = max_size
        self._interval_s = interval_s
        self._clock = clock
        self._feed_span_ns = feed_span_ns
        self._ordered = ordered
        # Ordered: the feed time every worker has committed up to (batches up to it may go).
        self._open_ns = -1
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        # Held while acks are enqueued, so a connection change cannot slip in between the
        # generation check and the last ack.
        self._ack_lock = threading.Lock()
        # Packet ids are only valid on the connection that delivered them: every batch records
        # the generation it was filled in, and acknowledge() skips stale ones (the broker
        # redelivers those messages on the new connection anyway).
        self._generation = 0
        self._current: Batch | None = None
        self._sealed: deque[Batch] = deque()
        # Batches of this connection not yet acknowledged, oldest first.
        self._unsettled: deque[Batch] = deque()
        self._closed = False
        self.received = 0
        self.held = 0
        # On the feed's clock: the time of the last tick, the time of batches started from now on.
        self.clock_ns = 0
        # Snapshot bytes received on this connection and not yet acknowledged.
        self.held_bytes = 0

    # Network thread ------------------------------------------------------------------------
    def add_reading(self, mid: int | None, record: ReadingRecord) -> None:
        """Add a valid reading of a known node."""
        with self._lock:
            batch = self._batch()
            if batch is not None:
                batch.readings.append(record)
                self._count(batch, mid)

    def add_status(self, mid: int | None, record: StatusRecord) -> None:
        """Add a valid status of a known node."""
        with self._lock:
            batch = self._batch()
            if batch is not None:
                batch.statuses.append(record)
                self._count(batch, mid)

    def add_detection(self, mid: int | None, record: DetectionRecord) -> None:
        """Add a valid detection of a known node."""
        with self._lock:
            batch = self._batch()
            if batch is not None:
                batch.detections.append(record)
                self._count(batch, mid)

    def add_snapshot(self, mid: int | None, record: SnapshotRecord) -> None:
        """Add a valid snapshot of a known node."""
        with self._lock:
            batch = self._batch()
            if batch is not None:
                batch.snapshots.append(record)
                self._count_bytes(batch, len(record.payload))
                self._count(batch, mid)

    def add_dead_letter(self, mid: int | None, record: DeadLetterRecord) -> None:
        """Add a dead letter (refused here, or forwarded by a gateway)."""
        with self._lock:
            batch = self._batch()
            if batch is not None:
                batch.dead_letters.append(record)
                self._count(batch, mid)

    def add_unresolved(self, mid: int | None, record: NodeRecord) -> None:
        """Add a message whose node the writer must look up before committing."""
        with self._lock:
            batch = self._batch()
            if batch is not None:
                batch.unresolved.append(record)
                if isinstance(record, SnapshotRecord):
                    self._count_bytes(batch, len(record.payload))
                self._count(batch, mid)

    def add_ack_only(self, mid: int | None) -> None:
        """Add a message with nothing to store, acked with the batch to keep ack order."""
        with self._lock:
            batch = self._batch()
            if batch is not None:
                self._count(batch, mid)

    def add_tick(self, mid: int | None, feed_ns: int, last: bool = False) -> None:
        """A feed clock tick (the closing one if ``last``): it goes into the current batch, and
        seals it if the feed has moved on more than the span past the batch's clock."""
        with self._lock:
            batch = self._batch()
            if batch is None:
                return
            self.clock_ns = max(self.clock_ns, feed_ns)
            if not batch.has_records:
                batch.clock_ns = self.clock_ns  # its messages, if any, come after this tick
            batch.tick_ns = max(batch.tick_ns or feed_ns, feed_ns)
            batch.last_tick = batch.last_tick or last
            self._count(batch, mid)
            if last or self._ordered or self.clock_ns - batch.clock_ns > self._feed_span_ns:
                self._seal()

    def open_to(self, feed_ns: int) -> None:
        """Ordered: every worker has committed what it received before the tick at ``feed_ns``."""
        with self._lock:
            if feed_ns > self._open_ns:
                self._open_ns = feed_ns
                self._ready.notify()

    def new_connection(self) -> None:
        """The MQTT connection was lost or made: packet ids of earlier batches are void.

        Their messages come again on the new connection (they are still committed, but not
        acknowledged), so nothing of the old connection counts as held any more.
        """
        with self._ack_lock, self._lock:
            self._generation += 1
            self._seal()
            self._unsettled.clear()
            self.held = 0
            self.held_bytes = 0

    @property
    def generation(self) -> int:
        """The current connection's number."""
        return self._generation

    def _batch(self) -> Batch | None:
        if self._closed:
            return None  # stopping: left unacked, so the broker redelivers it later
        batch = self._current
        if batch is None:
            batch = self._current = Batch(self._generation, self._clock(), clock_ns=self.clock_ns)
            self._unsettled.append(batch)
            self._ready.notify()  # the writer starts timing this batch
        return batch

    def _count(self, batch: Batch, mid: int | None) -> None:
        self.received += 1
        self.held += 1
        batch.size += 1
        if mid is not None:
            batch.mids.append(mid)
        if batch.size >= self._max_size or batch.snapshot_bytes >= BATCH_SNAPSHOT_BYTES:
            self._seal()

    def _count_bytes(self, batch: Batch, size: int) -> None:
        batch.snapshot_bytes += size
        self.held_bytes += size

    def _seal(self) -> None:
        if self._current is not None and self._current.size:
            self._sealed.append(self._current)
            self._ready.notify()
        self._current = None

    # Writer thread -------------------------------------------------------------------------
    def take(self) -> Batch | None:
        """The next batch once it is full or due (and, ordered, its turn has come); None when
        closed and nothing is left (closing hands out what is left at once)."""
        with self._lock:
            while True:
                if self._sealed:
                    if self._closed or self._turn(self._sealed[0]):
                        return self._sealed.popleft()
                    self._ready.wait()  # for open_to
                    continue
                batch = self._current
                timeout: float | None = None
                if batch is not None:
                    timeout = batch.started + self._interval_s - self._clock()
                    if self._closed or (timeout <= 0 and self._turn(batch)):
                        self._current = None
                        return batch
                    if timeout <= 0:
                        timeout = None  # due, but not its turn: open_to wakes us
                elif self._closed:
                    return None
                self._ready.wait(timeout)

    def _turn(self, batch: Batch) -> bool:
        # Ordered: judged only after what every worker received before its clock (at once for
        # what came before any tick, such as retained statuses). A batch with nothing to store
        # goes at once too (its tick is then reported sooner).
        return not self._ordered or batch.clock_ns <= max(self._open_ns, 0) or not batch.has_records

    def acknowledge(self, batch: Batch, ack: Callable[[int], object]) -> bool:
        """Ack the batch's messages in receipt order, unless its connection is gone.

        Call it where the connection's events happen (the network loop's thread), so that no
        connection can change between the check and the last ack.
        """
        with self._ack_lock:
            if batch.generation != self._generation:
                return False
            for mid in batch.mids:
                ack(mid)
            with self._lock:
                self.held -= batch.size
                self.held_bytes -= batch.snapshot_bytes
                if batch in self._unsettled:
                    self._unsettled.remove(batch)  # the oldest, unless batches were reordered
        return True

    def close(self) -> None:
        """Stop accepting messages; :meth:`take` hands out what is left, then None."""
        with self._lock:
            self._closed = True
            self._ready.notify_all()

    def oldest_started(self) -> float | None:
        """When the oldest message received on this connection and not yet acked came."""
        with self._lock:
            return self._unsettled[0].started if self._unsettled else None
