"""The gateway's disk buffer: what the township sent is stored before it is acknowledged.

:class:`Buffer` sits between the bridge and the uplink and is a
:class:`~envgrid_gateway.outbound.Forwarder` on both sides: the bridge hands it messages, and
it hands them on to the uplink (any ``Forwarder`` with a ``connected`` property).

* **Stored first.** :meth:`Buffer.send` queues the message for a writer thread, which commits
  whatever has arrived since its last commit in one transaction (group commit: one fsync per
  batch under load, no added delay when idle), then calls each message's ``done(None)``: only
  then is the township broker acknowledged. A message queued but not committed when the
  process dies is unacknowledged there, and the township broker delivers it again.
* **Sent in order, then deleted.** A pump thread takes rows in their order and hands at most
  ``window`` at a time to the uplink; a row is deleted when the uplink's ``done(None)`` says
  the cloud broker has it. The uplink's MQTT client resends what it was given after a
  reconnect, so rows in flight are never handed over twice by one process; after a restart
  everything not yet deleted goes again (receivers are idempotent).
* **Historical.** Readings and detections that waited (stored while the uplink was down, or
  behind such a backlog, or left over from an earlier connection or process) are sent with
  ``"historical": true``; statuses, snapshots and dead letters are sent unchanged.
* **Bounded.** The :class:`~envgrid_common.outbox.Outbox` bounds rows, bytes and age; when full
  it drops the oldest readings. Everything else (detections, snapshots, statuses, dead
  letters) is never dropped.
* **Nobody listening.** A PUBACK saying the cloud broker had no subscriber for a message
  (MQTT 5 reason 0x10: after a broker restart, until the ingest subscribes again) does not
  delete it: the pump stops handing over, waits a moment, and sends those rows again, in
  order. Retained messages are kept by the broker anyway and count as delivered.
* **Refusals.** A message the cloud broker refuses (too large, not authorised, …) is replaced
  by a dead letter saying why, queued like any other row; a refused dead letter is logged and
  counted as lost, since nothing upstream will take it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from envgrid_common.outbox import Bounds, Durability, Kind, Outbox, OutMessage, Row
from envgrid_common.outbox.message import mark_historical
from envgrid_common.topics import NodeChannel, Topics
from envgrid_common.validation import dead_letter
from envgrid_gateway.bridge import MAX_DEAD_LETTER_BYTES
from envgrid_gateway.outbound import NO_SUBSCRIBERS, Done, Outgoing
from envgrid_gateway.settings import GatewaySettings
from envgrid_gateway.stats import Stats

log = logging.getLogger("envgrid.gateway.buffer")

DEFAULT_WINDOW = 1000
# Messages per transaction at most: bounds the time one commit holds the outbox's lock.
MAX_BATCH = 2000
# How often the pump looks at the uplink's connection when nothing else wakes it.
_TICK_S = 0.05
_PURGE_EVERY_S = 60.0
_RETRY_S = 1.0

# Channels whose JSON body has a "historical" field (node statuses refuse unknown fields,
# snapshots are JPEG).
_MARKABLE = frozenset({NodeChannel.READINGS, NodeChannel.DETECTIONS})


class Upstream(Protocol):
    """What the buffer forwards to: a Forwarder that says whether it is connected."""

    @property
    def connected(self) -> bool:
        """Whether messages handed over now go out now."""
        ...

    def send(self, message: Outgoing, done: Done) -> None:
        """Take one message; call ``done`` exactly once, from any thread, when it is settled."""
        ...


@dataclass(frozen=True, slots=True)
class BufferStats:
    """What the buffer holds and what it had to give up."""

    buffered: int  # rows on disk, in flight included
    bytes: int
    in_flight: int  # handed to the uplink, not yet confirmed
    unwritten: int  # received, not yet committed (and not yet acknowledged locally)
    oldest_pending_s: float | None  # age of the oldest row not yet confirmed upstream
    dropped: int  # readings dropped by the size and age bounds
    refused: int  # rows the cloud broker refused (each replaced by a dead letter)
    lost: int  # dead letters the cloud broker refused: gone


class Buffer:
    """A disk-backed :class:`~envgrid_gateway.outbound.Forwarder` in front of ``inner``."""

    def __init__(
        self,
        inner: Upstream,
        path: Path,
        *,
        gateway_id: str,
        uplink_topics: Topics,
        bounds: Bounds | None = None,
        window: int = DEFAULT_WINDOW,
        durability: Durability = "full",
        stats: Stats | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._inner = inner
        self._gateway_id = gateway_id
        self._topics = uplink_topics
        self._dead_letter_topic = uplink_topics.dead_letter(gateway_id)
        self._window = window
        self._stats = stats or Stats()
        self.outbox = Outbox(path, bounds, durability=durability)
        # Writer side: messages received and not yet committed, in arrival order.
        self._cond = threading.Condition()
        self._incoming: deque[tuple[Outgoing, Done]] = deque()
        self._writing = 0
        self._accepting = True
        # Pump side. Only the pump thread touches _in_flight; uplink callbacks only append
        # to _settled (they run on the uplink's network thread, which must never wait for us).
        self._wake = threading.Event()
        self._settled: deque[tuple[int, str | None]] = deque()
        self._in_flight: dict[int, Row] = {}
        self._in_flight_count = 0  # read by other threads for stats and drain
        # Rows the cloud broker had no subscriber for: held (still handed over in the outbox)
        # until the window has settled and _retry_at has come, then released and sent again.
        self._undelivered = 0
        self._retry_at = 0.0
        self._handing_over = True
        # What the uplink's connection was when last looked at; the writer and the pump
        # both look (under _state), so that a message stored just after a reconnect is live
        # even if the pump has not woken since.
        self._state = threading.Lock()
        self._up = False
        self._epoch = 0  # the uplink connection rows are stored live on; 0: none yet
        # Set while rows wait that were stored with the uplink down: rows stored behind
        # them are historical too, until the pump has caught up.
        self._behind = True
        self._lost = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._closed_counters: dict[str, int] | None = None

    @classmethod
    def from_settings(
        cls, settings: GatewaySettings, inner: Upstream, stats: Stats | None = None
    ) -> Buffer:
        """A buffer for this gateway, with its file, bounds and window from ``settings``."""
        bounds = Bounds(
            max_rows=settings.gateway_buffer_max_rows,
            max_bytes=settings.gateway_buffer_max_bytes,
            max_age_s=settings.gateway_buffer_max_age_s,
        )
        return cls(
            inner,
            settings.buffer_file,
            gateway_id=settings.gateway_id,
            uplink_topics=settings.uplink_topics,
            bounds=bounds,
            window=settings.gateway_buffer_window,
            stats=stats,
        )

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> Buffer:
        """Start the writer and the pump (what is on disk from before goes first)."""
        self._step()  # see the uplink's state now, so that the first messages can be live
        for target, name in ((self._write_loop, "writer"), (self._pump_loop, "pump")):
            thread = threading.Thread(target=target, name=f"gateway-buffer-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything received is committed (and acknowledged locally)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._incoming or self._writing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def drain(self, timeout_s: float) -> bool:
        """Wait until the cloud broker has confirmed everything stored; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not self.flush(0) or len(self.outbox):
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.01)
        return True

    def close(self, settle_timeout_s: float = 0.0) -> None:
        """Commit what was received, hand nothing more over, close (again: no effect)."""
        # Later sends are never acknowledged, so the township broker keeps and redelivers
        # them. Rows in flight get settle_timeout_s for their confirmation; the rest stay on
        # disk and go again after a restart.
        with self._cond:
            self._accepting = False
            self._cond.notify_all()
        self._handing_over = False
        deadline = time.monotonic() + settle_timeout_s
        while self._in_flight_count and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.01)
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        if self._closed_counters is None:
            # The last status a stopping gateway publishes still reports the buffer.
            self._closed_counters = self.counters()
        self.outbox.close()

    def __enter__(self) -> Buffer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the bridge's side ---------------------------------------------------------------------

    def send(self, message: Outgoing, done: Done) -> None:
        """Store ``message``; ``done(None)`` once it is committed to disk."""
        with self._cond:
            if not self._accepting:
                # Not acknowledging it is how it stays safe: the township broker redelivers.
                log.debug("buffer closed: %s left unacknowledged", message.topic)
                return
            self._incoming.append((message, done))
            self._cond.notify()

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._incoming and self._accepting:
                    self._cond.wait()
                if not self._incoming:
                    return  # closed and everything written
                batch = [
                    self._incoming.popleft() for _ in range(min(MAX_BATCH, len(self._incoming)))
                ]
                self._writing = len(batch)
            while not self._write(batch):
                # A full or failing disk: nothing is acknowledged, so the township broker
                # holds the messages (and stops sending at its in-flight limit) until it works.
                if self._stop.wait(_RETRY_S):
                    return
            with self._cond:
                self._writing = 0
                self._cond.notify_all()
            for _, done in batch:
                try:
                    done(None)
                except Exception:
                    log.exception("acknowledging a stored message failed")

    def _write(self, batch: list[tuple[Outgoing, Done]]) -> bool:
        messages = [self._out_message(message) for message, _ in batch]
        with self._state:
            live = self._epoch if self._observe() and not self._behind else 0
        try:
            self.outbox.put(messages, live=live)
        except Exception:
            log.exception(
                "cannot store %d message(s) in %s; retrying", len(batch), self.outbox.path
            )
            return False
        self._wake.set()
        return True

    def _out_message(self, message: Outgoing) -> OutMessage:
        parsed = self._topics.parse_node_topic(message.topic)
        # Only readings may be dropped when full. Everything else is stored as a detection,
        # the outbox's never-dropped FIFO kind: its STATUS kind would keep only the newest
        # per node (losing an offline spell in between) and send it ahead of older rows.
        droppable = parsed is not None and parsed.channel is NodeChannel.READINGS
        kind = Kind.READING if droppable else Kind.DETECTION
        return OutMessage(kind, message.topic, message.payload, message.retain)

    # -- the uplink's side ---------------------------------------------------------------------

    def _pump_loop(self) -> None:
        next_purge = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(_TICK_S)
            self._wake.clear()
            try:
                self._step()
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + _PURGE_EVERY_S
                    self.outbox.purge_expired()
            except Exception:
                # The pump must outlive a bad moment (a full disk, say): log and go on.
                log.exception("gateway buffer step failed; retrying")
                self._stop.wait(_RETRY_S)
        self._collect()  # confirmations that came in before the end: fewer repeats later

    def _observe(self) -> bool:
        """Whether the uplink is connected; a new connection starts a new epoch. Under _state."""
        up = self._inner.connected
        if up and not self._up:
            # Rows stored on an earlier connection and still waiting are historical, and so
            # is what is stored behind them; with none waiting, what comes now is live.
            self._epoch = time.time_ns()
            self._behind = self.outbox.pending()
        elif self._up and not up:
            self._behind = True
        self._up = up
        return up

    def _step(self) -> None:
        with self._state:
            up = self._observe()
        self._collect()
        if self._undelivered:
            if self._in_flight or time.monotonic() < self._retry_at:
                return  # no new rows while the cloud has nobody to give them to
            released = self.outbox.release()
            log.info("sending %d row(s) again that nobody had subscribed to", released)
            self._undelivered = 0
        if up and self._handing_over:
            self._hand_over(self._window - len(self._in_flight))
            if not self.outbox.pending():
                with self._state:
                    self._behind = False

    def _hand_over(self, free: int) -> None:
        if free <= 0:
            return
        for row in self.outbox.take(free):
            self._in_flight[row.id] = row
            self._in_flight_count = len(self._in_flight)
            outgoing = Outgoing(row.topic, self._wire_payload(row), row.retain)
            try:
                self._inner.send(outgoing, partial(self._confirm, row.id))
            except Exception as error:
                log.exception("uplink would not take row %d for %s", row.id, row.topic)
                self._confirm(row.id, f"not sent: {error}")

    def _wire_payload(self, row: Row) -> bytes:
        if row.live == self._epoch:
            return row.payload
        parsed = self._topics.parse_node_topic(row.topic)
        if parsed is None or parsed.channel not in _MARKABLE:
            return row.payload
        return mark_historical(row.payload)

    def _confirm(self, row_id: int, refused: str | None) -> None:
        # The uplink's network thread: queue and wake, nothing more.
        self._settled.append((row_id, refused))
        self._wake.set()

    def _collect(self) -> None:
        settled: list[tuple[int, str | None]] = []
        while self._settled:
            settled.append(self._settled.popleft())
        if not settled:
            return
        confirmed: list[int] = []
        refused: list[Row] = []
        letters: list[OutMessage] = []
        lost: list[tuple[Row, str]] = []
        undelivered = 0
        for row_id, reason in settled:
            row = self._in_flight.get(row_id)
            if row is None:
                continue
            if reason is None or (reason == NO_SUBSCRIBERS and row.retain):
                confirmed.append(row_id)
                continue
            if reason == NO_SUBSCRIBERS:
                undelivered += 1
                continue
            refused.append(row)
            if row.topic == self._dead_letter_topic:
                lost.append((row, reason))
            else:
                letters.append(self._letter(row, reason))
        try:
            if letters:
                # Stored before the refused rows are deleted: a crash in between repeats a
                # message, it never loses one.
                self.outbox.put(letters)
            self.outbox.ack(confirmed, [row.id for row in refused])
        except BaseException:
            self._settled.extendleft(reversed(settled))  # the outbox rolled back: next round
            raise
        for row_id, _ in settled:
            self._in_flight.pop(row_id, None)
        self._in_flight_count = len(self._in_flight)
        self._count_refusals(len(letters), lost)
        if undelivered:
            self._hold_undelivered(undelivered)

    def _hold_undelivered(self, count: int) -> None:
        if not self._undelivered:
            log.warning(
                "the cloud broker has no subscriber for %s (restarted? ingest not yet back): "
                "holding what it did not deliver, trying again in %.0f s",
                self._topics.base,
                _RETRY_S,
            )
        self._undelivered += count
        self._retry_at = time.monotonic() + _RETRY_S
        self._stats.add("uplink_undelivered", count)

    def _letter(self, row: Row, reason: str) -> OutMessage:
        """A dead letter for ``row``, which the cloud broker refused with ``reason``."""
        reason = f"uplink refused {row.topic}: {reason}"
        body = row.payload
        if len(body) > MAX_DEAD_LETTER_BYTES:
            reason += f" (first {MAX_DEAD_LETTER_BYTES} of {len(body)} bytes kept)"
            body = body[:MAX_DEAD_LETTER_BYTES]
        log.warning("dead letter (uplink_refused) for row %d: %s", row.id, reason)
        letter = dead_letter(self._gateway_id, row.topic, body, reason)
        return OutMessage(
            Kind.DETECTION, self._dead_letter_topic, letter.model_dump_json().encode()
        )

    def _count_refusals(self, lettered: int, lost: list[tuple[Row, str]]) -> None:
        # The bridge's counters for the same events, now that refusals come back here.
        if lettered:
            self._stats.add("uplink_refused", lettered)
            self._stats.add("dead_lettered", lettered)
            self._stats.add("rejected_uplink_refused", lettered)
        for row, reason in lost:
            # Nowhere left to put it, and it would be refused again on every retry.
            self._lost += 1
            self._stats.add("lost")
            log.error("uplink refused dead letter row %d: %s; it is lost", row.id, reason)

    # -- state ---------------------------------------------------------------------------------

    def stats(self) -> BufferStats:
        """Rows held, in flight, the oldest one's age and what was given up."""
        s = self.outbox.stats()
        with self._cond:
            unwritten = len(self._incoming) + self._writing
        return BufferStats(
            buffered=s.rows,
            bytes=s.bytes,
            in_flight=self._in_flight_count,
            unwritten=unwritten,
            oldest_pending_s=s.oldest_age_s,
            dropped=s.dropped,
            refused=s.refused,
            lost=self._lost,
        )

    def counters(self) -> dict[str, int]:
        """The buffer's part of the gateway's status counters (as they were, once closed)."""
        if self._closed_counters is not None:
            return dict(self._closed_counters)
        s = self.stats()
        return {
            "buffered": s.buffered,
            "buffer_bytes": s.bytes,
            "buffer_in_flight": s.in_flight,
            "buffer_unwritten": s.unwritten,
            "buffer_oldest_pending_s": round(s.oldest_pending_s or 0.0),
            "buffer_dropped": s.dropped,
            "buffer_refused": s.refused,
            "buffer_lost": s.lost,
        }
