"""The gateway's disk buffer: what the township sent is stored before it is acknowledged.

:class:`Buffer` sits between the bridge and the uplink and is a
:class:`~envgrid_gateway.outbound.Forwarder` on both sides: the bridge hands it messages, and
it hands them on to the uplink (any ``Forwarder`` with a ``connected`` property).

* **Stored first.** :meth:`Buffer.send` queues the message for a writer thread, which commits
  whatever has arrived since its last commit in one transaction (group commit: one fsync per
  batch under load, no added delay when idle), then calls each message's ``done(None)``: only
  then is the township broker acknowledged. A message queued but not committed when the
  process dies is unacknowledged there, and the township broker delivers it again.
* **Forwarded by the one engine.** A pump thread drives an outbox
  :class:`~envgrid_common.outbox.Pump` whose publisher is the uplink: rows go in order, at
  most ``window`` in flight, each deleted when the cloud broker has it; what waited goes
  ``"historical"``; the oldest readings are dropped when full; what the cloud broker gave to
  nobody (MQTT 5 reason 0x10: after a broker restart, until the ingest subscribes again) is
  kept and sent again. The uplink's MQTT client resends what it was given after a
  reconnect; after a restart everything not yet deleted goes again (receivers are
  idempotent).
* **Every channel its kind.** Readings, detections, statuses, snapshots and dead letters are
  stored as such (from the topic the bridge parsed): only readings are dropped when full,
  only readings and detections are marked historical, and statuses keep their place. A
  buffer file written before (everything but readings stored as detections) is relabelled
  once when opened (its schema counter says so).
* **Refusals.** A message the cloud broker refuses (too large, not authorised, …) is replaced
  by a dead letter saying why, queued like any other row; a refused dead letter is logged and
  counted as lost, since nothing upstream will take it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from envgrid_common.mqtt import PublishRefused
from envgrid_common.netloop import NetLoop
from envgrid_common.outbox import (
    DELIVERED,
    Bounds,
    Durability,
    Kind,
    Outbox,
    OutMessage,
    Puback,
    Pump,
    Row,
    Settle,
)
from envgrid_common.outbox.publisher import NO_MATCHING_SUBSCRIBERS, UNSPECIFIED_ERROR
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
_RETRY_S = 1.0

_KINDS = {
    NodeChannel.READINGS: Kind.READING,
    NodeChannel.DETECTIONS: Kind.DETECTION,
    # Not the outbox's STATUS: that keeps only the newest per node (losing an offline spell
    # in between) and sends it ahead of older rows.
    NodeChannel.STATUS: Kind.RELAYED_STATUS,
    NodeChannel.SNAPSHOTS: Kind.SNAPSHOT,
}
# The buffer file's own schema, kept as an outbox counter: 2 gave every channel its kind.
SCHEMA_COUNTER = "gateway.buffer_schema"
SCHEMA_VERSION = 2


def _settle(batch: list[tuple[Outgoing, Done]]) -> None:
    """Tell the senders of a committed batch that it is stored (acknowledged locally)."""
    for _, done in batch:
        try:
            done(None)
        except Exception:
            log.exception("acknowledging a stored message failed")


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
        self._gateway_id = gateway_id
        self._topics = uplink_topics
        self._dead_letter_topic = uplink_topics.dead_letter(gateway_id)
        self._stats = stats or Stats()
        self.outbox = Outbox(path, bounds, durability=durability)
        try:
            self._migrate()
        except BaseException:
            self.outbox.close()
            raise
        # Writer side: messages received and not yet committed, in arrival order.
        self._cond = threading.Condition()
        self._incoming: deque[tuple[Outgoing, Done]] = deque()
        self._writing = 0
        self._accepting = True
        # With batch_on(loop): what the loop's thread sent this round, not yet handed over.
        self._loop: NetLoop | None = None
        self._round: list[tuple[Outgoing, Done]] = []
        # Pump side: the pump thread steps the engine whenever the uplink settles a message.
        self._wake = threading.Event()
        self._publisher = _UplinkPublisher(inner)
        self._pump = Pump(
            self.outbox,
            self._publisher,
            window=window,
            retry_s=_RETRY_S,
            wake=self._wake_pump,
            replace=self._letter,
            on_undelivered=self._undelivered,
        )
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
        for target, name in ((self._write_loop, "writer"), (self._pump_loop, "pump")):
            thread = threading.Thread(target=target, name=f"gateway-buffer-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything received is committed (and acknowledged locally)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._round or self._incoming or self._writing:
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
        self._pump.pause()
        deadline = time.monotonic() + settle_timeout_s
        while self._pump.in_flight and time.monotonic() < deadline:
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

    def batch_on(self, loop: NetLoop) -> None:
        """Take what ``loop``'s thread sends once a round, and settle it on that thread.

        The writer is then woken once per network round with all of the round's messages,
        not at the first of them (each wake takes the interpreter lock from the network
        thread), and a committed batch's ``done`` calls go back in one hand-over. The
        network thread never waits for the writer: it only appends to a list of its own.
        """
        self._loop = loop
        loop.at_round_end(self._hand_over_round)

    def send(self, message: Outgoing, done: Done) -> None:
        """Store ``message``; ``done(None)`` once it is committed to disk."""
        loop = self._loop
        if loop is not None and loop.on_thread():
            self._round.append((message, done))  # only the loop's thread touches it
            return
        with self._cond:
            if not self._accepting:
                # Not acknowledging it is how it stays safe: the township broker redelivers.
                log.debug("buffer closed: %s left unacknowledged", message.topic)
                return
            self._incoming.append((message, done))
            self._cond.notify_all()  # the writer, not only a flush() waiting

    def _hand_over_round(self) -> None:
        """The loop's round is over: what it sent goes to the writer, in order."""
        if not self._round:
            return
        messages, self._round = self._round, []
        with self._cond:
            if not self._accepting:
                log.debug("buffer closed: %d message(s) left unacknowledged", len(messages))
                return
            self._incoming.extend(messages)
            self._cond.notify_all()

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
            # One hand-over for the batch, queued before flush() can return: what is
            # submitted to the loop after it (a DISCONNECT) goes after these acks.
            loop = self._loop if self._loop is not None and self._loop.running else None
            if loop is not None:
                loop.submit(partial(_settle, batch))
            with self._cond:
                self._writing = 0
                self._cond.notify_all()
            if loop is None:
                _settle(batch)

    def _write(self, batch: list[tuple[Outgoing, Done]]) -> bool:
        messages = [self._out_message(message) for message, _ in batch]
        try:
            self._pump.put(messages)  # live or not is the pump's rule
        except Exception:
            log.exception(
                "cannot store %d message(s) in %s; retrying", len(batch), self.outbox.path
            )
            return False
        self._wake.set()
        return True

    def _out_message(self, message: Outgoing) -> OutMessage:
        return OutMessage(self._kind(message), message.topic, message.payload, message.retain)

    def _kind(self, message: Outgoing) -> Kind:
        if message.topic == self._dead_letter_topic:
            return Kind.DEAD_LETTER
        # The bridge passes the topic it parsed; other senders (tools, tests) may not.
        parsed = message.parsed or self._topics.parse_node_topic(message.topic)
        # Anything else is passed on as opaque bytes, unchanged and never dropped.
        return Kind.SNAPSHOT if parsed is None else _KINDS[parsed.channel]

    def _migrate(self) -> None:
        """Give the rows of an older buffer file their kinds (they were all detections)."""
        if self.outbox.counter(SCHEMA_COUNTER) >= SCHEMA_VERSION:
            return
        changed = self.outbox.relabel(
            Kind.DETECTION,
            lambda topic: self._kind(Outgoing(topic, b"")),
            counters={SCHEMA_COUNTER: SCHEMA_VERSION},
        )
        if changed:
            log.info("%s: %d stored message(s) relabelled by channel", self.outbox.path, changed)

    # -- the uplink's side ---------------------------------------------------------------------

    def _wake_pump(self) -> None:
        # Called per PUBACK on the network thread: Event.set() takes a lock even when set.
        # Skipping it is safe, as the pump clears the event before it collects.
        if not self._wake.is_set():
            self._wake.set()

    def _pump_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(_TICK_S)
            self._wake.clear()
            try:
                with self._publisher.batch():
                    self._pump.step()
            except Exception:
                # The pump must outlive a bad moment (a full disk, say): log and go on.
                log.exception("gateway buffer step failed; retrying")
                self._stop.wait(_RETRY_S)
        self._pump.collect()  # confirmations that came in before the end: fewer repeats later

    def _undelivered(self, count: int) -> None:
        self._stats.add("uplink_undelivered", count)

    def _letter(self, row: Row, refused: Puback) -> list[OutMessage]:
        """What replaces ``row``, which the cloud broker refused: a dead letter saying why."""
        if row.kind is Kind.DEAD_LETTER:
            # Nowhere left to put it, and it would be refused again on every retry.
            self._lost += 1
            self._stats.add("lost")
            log.error("uplink refused dead letter row %d: %s; it is lost", row.id, refused.reason)
            return []
        reason = f"uplink refused {row.topic}: {refused.reason}"
        body = row.payload
        if len(body) > MAX_DEAD_LETTER_BYTES:
            reason += f" (first {MAX_DEAD_LETTER_BYTES} of {len(body)} bytes kept)"
            body = body[:MAX_DEAD_LETTER_BYTES]
        log.warning("dead letter (uplink_refused) for row %d: %s", row.id, reason)
        # The bridge's counters for the same events, now that refusals come back here.
        self._stats.add("uplink_refused")
        self._stats.add("dead_lettered")
        self._stats.add("rejected_uplink_refused")
        letter = dead_letter(self._gateway_id, row.topic, body, reason)
        return [
            OutMessage(Kind.DEAD_LETTER, self._dead_letter_topic, letter.model_dump_json().encode())
        ]

    # -- state ---------------------------------------------------------------------------------

    def stats(self) -> BufferStats:
        """Rows held, in flight, the oldest one's age and what was given up."""
        s = self.outbox.stats()
        with self._cond:
            unwritten = len(self._round) + len(self._incoming) + self._writing
        return BufferStats(
            buffered=s.rows,
            bytes=s.bytes,
            in_flight=self._pump.in_flight,
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


class _UplinkPublisher:
    """The uplink (a Forwarder with a connection state) as the pump's Publisher."""

    def __init__(self, inner: Upstream) -> None:
        self._inner = inner
        # An uplink that takes a batch at once (Uplink.send_all) gets a step's rows together.
        self._send_all: Callable[[list[tuple[Outgoing, Done]]], None] | None = getattr(
            inner, "send_all", None
        )
        self._batch: list[tuple[Outgoing, Done]] | None = None

    @property
    def connected(self) -> bool:
        """Whether the uplink is connected."""
        return self._inner.connected

    def publish(self, topic: str, payload: bytes, retain: bool, settle: Settle) -> None:
        """Hand one message to the uplink; its ``done`` becomes a PUBACK."""
        if self._batch is not None:
            self._batch.append((Outgoing(topic, payload, retain), partial(_as_puback, settle)))
            return
        try:
            self._inner.send(Outgoing(topic, payload, retain), partial(_as_puback, settle))
        except Exception as error:
            log.exception("uplink would not take a message for %s", topic)
            raise PublishRefused(str(error)) from error

    @contextmanager
    def batch(self) -> Iterator[None]:
        """What is published meanwhile goes to the uplink in one hand-over, at the end."""
        if self._send_all is None:
            yield
            return
        self._batch = []
        try:
            yield
        finally:
            # Rows the pump took are in flight even if it stopped half-way: they go too.
            batch, self._batch = self._batch, None
            if batch:
                self._send_all(batch)


def _as_puback(settle: Settle, refused: str | None) -> None:
    """The uplink's ``done`` as the PUBACK it stands for."""
    if refused is None:
        settle(DELIVERED)
    elif refused == NO_SUBSCRIBERS:
        settle(Puback(NO_MATCHING_SUBSCRIBERS, refused))
    else:
        settle(Puback(UNSPECIFIED_ERROR, refused))
