"""The writer thread: commit each batch (retrying through outages), then have it acknowledged."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import psycopg

from envgrid_cloud.ingest.batch import Batch, Batcher
from envgrid_cloud.ingest.dead import refused
from envgrid_cloud.ingest.nodes import NodeCache
from envgrid_cloud.ingest.store import Written
from envgrid_cloud.observations import (
    DeadLetterRecord,
    DetectionRecord,
    NodeRecord,
    ReadingRecord,
    SnapshotRecord,
    StatusRecord,
)
from envgrid_common.clock import FeedClock, utc_now

log = logging.getLogger("envgrid.ingest")

# Errors that a row's content causes: retrying the same batch would fail forever.
_ROW_ERRORS = (psycopg.DataError, psycopg.IntegrityError)


class Store(Protocol):
    """Where batches go (a :class:`~.store.BatchStore`, or a fake in tests)."""

    def write(
        self,
        readings: Sequence[ReadingRecord],
        statuses: Sequence[StatusRecord],
        dead_letters: Sequence[DeadLetterRecord],
        detections: Sequence[DetectionRecord] = (),
        snapshots: Sequence[SnapshotRecord] = (),
    ) -> Written:
        """Commit all of it in one transaction, or raise."""
        ...

    def close(self) -> None:
        """Drop the connection; the next write reconnects."""
        ...


class Writer:
    """Takes batches from the batcher, commits them, settles them; nothing is acked uncommitted.

    ``settle`` is handed each committed batch, in order, to have its messages acknowledged
    (on the network loop's thread, through :meth:`Batcher.acknowledge`). What the watchdog
    reads: :attr:`write_started` (a write under way since), :attr:`failing_since` and
    :attr:`last_error` (writes failing), :attr:`last_commit` (all monotonic seconds).
    """

    def __init__(
        self,
        batcher: Batcher,
        store: Store,
        nodes: NodeCache,
        settle: Callable[[Batch], object],
        *,
        drain_timeout_s: float = 10.0,
        backoff_s: tuple[float, float] = (0.1, 5.0),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        feed_clock: FeedClock | None = None,
    ) -> None:
        self._batcher = batcher
        self._store = store
        self._nodes = nodes
        self._settle = settle
        self._drain_timeout_s = drain_timeout_s
        self._backoff_s = backoff_s
        self._clock = clock
        self._sleep = sleep
        # On the feed's clock, the store and the rules read this: set to each batch's feed time.
        self._feed_clock = feed_clock
        self._stop_deadline: float | None = None
        self.written = Written()
        self.batches = 0
        self.last_commit_at: datetime | None = None
        self.last_commit: float | None = None
        self.write_started: float | None = None
        self.failing_since: float | None = None
        self.last_error: str | None = None

    def run(self) -> None:
        """Work until :meth:`stop` and every batch taken is done (or the drain times out)."""
        try:
            while (batch := self._batcher.take()) is not None:
                if not self._commit(batch):
                    break
                self._settle(batch)
        finally:
            self._store.close()

    def stop(self) -> None:
        """Take no more messages; commit and ack what was received, within the drain timeout."""
        self._stop_deadline = self._clock() + self._drain_timeout_s
        self._batcher.close()

    def _commit(self, batch: Batch) -> bool:
        delay = self._backoff_s[0]
        while True:
            self.write_started = self._clock()
            try:
                written = self._write(batch)
            except Exception as error:
                self.write_started = None
                self._store.close()
                now = self._clock()
                self.last_error = f"{type(error).__name__}: {str(error).strip()}"
                if self.failing_since is None:
                    self.failing_since = now
                    log.warning(
                        "database write failed (%s: %s); holding %d message(s) unacknowledged, "
                        "retrying",
                        type(error).__name__,
                        str(error).strip(),
                        batch.size,
                        exc_info=not isinstance(error, psycopg.Error),
                    )
                if self._stop_deadline is not None and now >= self._stop_deadline:
                    log.error(
                        "stopping with %d message(s) uncommitted: the broker will deliver them "
                        "again",
                        batch.size,
                    )
                    return False
                self._sleep(delay)
                delay = min(delay * 2, self._backoff_s[1])
                continue
            self.write_started = None
            if self.failing_since is not None:
                log.warning(
                    "database writes work again after %.1fs", self._clock() - self.failing_since
                )
                self.failing_since = self.last_error = None
            self._count(written)
            return True

    def _write(self, batch: Batch) -> Written:
        if self._feed_clock is not None:
            self._feed_clock.advance_to(batch.clock_ns)
        if not batch.has_records:
            return Written()  # feed clock ticks and the like: only to acknowledge (and report)
        self._nodes.refresh_if_stale()
        if batch.unresolved:
            self._resolve(batch)
        try:
            return self._store.write(
                batch.readings,
                batch.statuses,
                batch.dead_letters,
                batch.detections,
                batch.snapshots,
            )
        except _ROW_ERRORS as error:
            log.warning("database refused a batch (%s); writing it row by row", error)
            return self._write_apart(batch)

    def _resolve(self, batch: Batch) -> None:
        """Messages of nodes the registry does not know become dead letters, as they came."""
        known = self._nodes.lookup({record.node_id for record in batch.unresolved})
        for record in batch.unresolved:
            if record.node_id not in known:
                reason = f"unknown node '{record.node_id}'"
                batch.dead_letters.append(refused(record.topic, record.payload, reason))
            elif isinstance(record, ReadingRecord):
                batch.readings.append(record)
            elif isinstance(record, StatusRecord):
                batch.statuses.append(record)
            elif isinstance(record, SnapshotRecord):
                batch.snapshots.append(record)
            else:
                batch.detections.append(record)
        batch.unresolved.clear()

    def _write_apart(self, batch: Batch) -> Written:
        """Isolate the records the database refuses, so one cannot block every other forever."""
        total = Written()
        records: list[NodeRecord] = [
            *batch.readings,
            *batch.statuses,
            *batch.detections,
            *batch.snapshots,
        ]
        for record in records:
            total = _add(total, self._write_or_refuse(record))
        for letter in batch.dead_letters:
            try:
                total = _add(total, self._store.write([], [], [letter]))
            except _ROW_ERRORS as error:
                log.error("dropping a dead letter the database refuses (%s): %r", error, letter)
        return total

    def _write_or_refuse(self, record: NodeRecord) -> Written:
        """Write one record; if the database refuses it, dead-letter the message it came from."""
        try:
            if isinstance(record, ReadingRecord):
                return self._store.write([record], [], [])
            if isinstance(record, StatusRecord):
                return self._store.write([], [record], [])
            if isinstance(record, SnapshotRecord):
                return self._store.write([], [], [], [], [record])
            return self._store.write([], [], [], [record])
        except _ROW_ERRORS as error:
            reason = f"the database refused it: {error}"
            return self._store.write([], [], [refused(record.topic, record.payload, reason)])

    def _count(self, written: Written) -> None:
        self.written = _add(self.written, written)
        self.batches += 1
        self.last_commit_at = utc_now()
        self.last_commit = self._clock()


def _add(a: Written, b: Written) -> Written:
    return Written(
        a.stored + b.stored,
        a.duplicates + b.duplicates,
        a.dead_lettered + b.dead_lettered,
        a.statuses + b.statuses,
        a.detections + b.detections,
        a.snapshots + b.snapshots,
    )
