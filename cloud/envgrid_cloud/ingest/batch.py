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
    # On the feed's clock: the feed time its messages came at (the last tick before them).
    clock_ns: int = 0
    # A feed clock tick: everything before it is in earlier batches (nothing else is in it).
    tick_ns: int | None = None
    # The worker holds its messages at this tick until the sweeps reach it (so reports it).
    tick_holds: bool = False


class Batcher:
    """Batches of at most ``max_size`` messages, each due ``interval_s`` after its first one.

    It also counts what the worker holds: :attr:`held` messages received on the current
    connection and not yet acknowledged (the network loop stops reading at a bound, whatever
    the broker sends), and :meth:`oldest_started` is the receipt time of the oldest of them.
    """

    def __init__(
        self, max_size: int, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_size = max_size
        self._interval_s = interval_s
        self._clock = clock
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

    def add_tick(self, mid: int | None, feed_ns: int, holds: bool = True) -> None:
        """A feed clock tick: seal what came before it, then a batch of the tick alone."""
        with self._lock:
            if self._closed:
                return
            self._seal()
            self.clock_ns = max(self.clock_ns, feed_ns)
            batch = self._batch()
            assert batch is not None
            batch.tick_ns = feed_ns
            batch.tick_holds = holds
            self._count(batch, mid)
            self._seal()

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
        """The next batch once it is full or due; None when closed and nothing is left."""
        with self._lock:
            while True:
                if self._sealed:
                    return self._sealed.popleft()
                batch = self._current
                timeout: float | None = None
                if batch is not None:
                    timeout = batch.started + self._interval_s - self._clock()
                    if timeout <= 0 or self._closed:
                        self._current = None
                        return batch
                elif self._closed:
                    return None
                self._ready.wait(timeout)

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
