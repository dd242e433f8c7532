"""The store-and-forward engine: one outbox stream moved to a publisher, deleted on PUBACK.

Every store-and-forward hop (edge agent, virtual nodes, gateway) runs this one engine, driven
by its own thread or task calling :meth:`Pump.step` whenever ``wake`` is called:

* **Order.** Rows are taken as the outbox orders them (a node's pending status first, then
  oldest first), at most ``window`` in flight. What must go again goes again in that order.
* **Historical.** A message is *live* if it is stored while the publisher is connected and
  no waiting row of its stream was stored otherwise; anything else is sent with
  ``"historical": true`` (readings and detections only, see :func:`wire_payload`).
* **Bounded.** The outbox drops the oldest readings when full; :meth:`Pump.step` also drops
  readings past their age now and then.
* **Delete on PUBACK.** A row leaves the outbox only when the broker has acknowledged it.
* **Delivered to nobody** (MQTT 5 reason 0x10, e.g. a broker restarted and its shared
  subscribers not yet back): with ``resend_undelivered`` the row is kept, nothing new is
  handed over, and ``retry_s`` after the window has settled the kept rows go again, in
  order. A retained message counts as delivered: the broker keeps it.
* **Refused** (PUBACK ≥ 0x80, or the publisher will never take it): deleted, counted and
  logged; ``replace`` may name messages to queue in its place (a dead letter), stored
  before the refused row is deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from envgrid_common.mqtt import PublishRefused
from envgrid_common.outbox.message import Kind, OutMessage, Row, wire_payload
from envgrid_common.outbox.publisher import UNSPECIFIED_ERROR, Puback, Publisher
from envgrid_common.outbox.store import Outbox

log = logging.getLogger("envgrid.outbox.pump")

DEFAULT_WINDOW = 100
RETRY_S = 1.0
_PURGE_EVERY_S = 60.0

Replace = Callable[[Row, Puback], Sequence[OutMessage]]


@dataclass(frozen=True, slots=True)
class PumpStats:
    """What a pump has done since it was made, and what it holds now."""

    connected: bool
    in_flight: int
    held: int  # delivered to nobody, waiting to go again
    sent: int
    acked: int
    refused: int
    undelivered: int


# A row in flight, and when (monotonic) it was handed to the publisher.
_Flight = tuple[Row, float]


class Pump:
    """Moves one ``stream`` of ``outbox`` to ``publisher`` (see the module's rules).

    Thread-safe: :meth:`put`, :meth:`step` and :meth:`attach` from any thread; the
    publisher's ``settle`` only queues the PUBACK and calls ``wake``, so it never waits.
    """

    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher | None = None,
        *,
        stream: str = "",
        window: int = DEFAULT_WINDOW,
        resend_undelivered: bool = True,
        retry_s: float = RETRY_S,
        wake: Callable[[], None] = lambda: None,
        replace: Replace | None = None,
        on_undelivered: Callable[[int], None] | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.outbox = outbox
        self.stream = stream
        self.window = window
        self._publisher = publisher
        self._resend = resend_undelivered
        self._retry_s = retry_s
        self._wake = wake
        self._replace = replace
        self._on_undelivered = on_undelivered
        # _state guards the connection as last seen; _lock the hand-over and what is in
        # flight. put() takes only _state, and briefly, so storing and handing over never
        # wait for each other.
        self._state = threading.Lock()
        self._lock = threading.Lock()
        self._up = False
        self._epoch = 0  # the connection rows are stored live on; 0: none yet
        self._behind = True  # rows stored while not live wait: what follows is not live
        self._settled: deque[tuple[int, int, Puback]] = deque()  # (generation, row id, ack)
        self._generation = 0  # bumped when the publisher forgets what it had in flight
        self._in_flight: dict[int, _Flight] = {}
        self._held = 0
        self._retry_at = 0.0
        self._handing_over = True
        self._next_purge = time.monotonic()
        self.acked: Counter[Kind] = Counter()
        self._sent = self._refused = self._undelivered = 0

    # -- the producer's side -------------------------------------------------------------------

    def put(
        self, messages: Sequence[OutMessage], *, counters: Mapping[str, int] | None = None
    ) -> list[int]:
        """Store ``messages`` (and ``counters``) in one transaction, live if they can be."""
        with self._state:
            live = self._epoch if self._observe() and not self._behind else 0
        # Not under _state: a commit (an fsync) must not hold up the hand-over.
        return self.outbox.put(messages, live=live, counters=counters, stream=self.stream)

    # -- the driver's side ---------------------------------------------------------------------

    def step(self) -> int:
        """Settle what the broker acknowledged, then hand over what the window allows."""
        with self._lock:
            with self._state:
                up = self._observe()
            self._collect()
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + _PURGE_EVERY_S
                self.outbox.purge_expired()
            if self._held:
                if self._in_flight or time.monotonic() < self._retry_at:
                    return 0  # nothing new while the broker has nobody to give it to
                released = self.outbox.release(self.stream)
                log.info("sending %d message(s) again that nobody had subscribed to", released)
                self._held = 0
            if not (up and self._handing_over):
                return 0
            handed = self._hand_over(self.window - len(self._in_flight))
            with self._state:
                if not self.outbox.pending(self.stream):
                    self._behind = False
            return handed

    def collect(self) -> None:
        """Settle what the broker acknowledged, handing nothing over."""
        with self._lock:
            self._collect()

    def attach(self, publisher: Publisher | None) -> int:
        """Publish through ``publisher`` from now on (None: no connection); see :meth:`release`."""
        with self._lock:
            released = self._release()
            self._publisher = publisher
            with self._state:
                self._observe()
            return released

    def release(self) -> int:
        """The publisher forgot what it had in flight: those rows go again, in order."""
        with self._lock:
            return self._release()

    def pause(self) -> None:
        """Hand nothing more over (what is in flight still settles)."""
        self._handing_over = False

    # -- state ---------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Rows handed to the publisher and not yet settled."""
        return len(self._in_flight)

    @property
    def connected(self) -> bool:
        """Whether the publisher was connected when last looked at."""
        return self._up

    def oldest_in_flight_s(self) -> float:
        """How long the oldest row in flight has waited for its PUBACK (0 if none)."""
        flights = list(self._in_flight.values())
        if not flights:
            return 0.0
        return time.monotonic() - min(at for _, at in flights)

    def stats(self) -> PumpStats:
        """Counters since the pump was made."""
        return PumpStats(
            connected=self._up,
            in_flight=len(self._in_flight),
            held=self._held,
            sent=self._sent,
            acked=sum(self.acked.values()),
            refused=self._refused,
            undelivered=self._undelivered,
        )

    # -- inside --------------------------------------------------------------------------------

    def _observe(self) -> bool:
        """Whether the publisher is connected; a new connection starts an epoch. Under _state."""
        publisher = self._publisher
        up = publisher is not None and publisher.connected
        if up and not self._up:
            # Rows stored earlier and still waiting are historical, and so is what is
            # stored behind them; with none waiting, what comes now is live.
            self._epoch = time.time_ns()
            self._behind = self.outbox.pending(self.stream)
        elif self._up and not up:
            self._behind = True
        self._up = up
        return up

    def _release(self) -> int:
        self._generation += 1  # PUBACKs still on their way belong to the old publisher
        self._settled.clear()
        self._in_flight.clear()
        self._held = 0
        with self._state:
            if self._up:
                self._up, self._behind = False, True
        return self.outbox.release(self.stream)

    def _hand_over(self, free: int) -> int:
        if free <= 0 or self._publisher is None:
            return 0
        rows = self.outbox.take(free, stream=self.stream)
        now = time.monotonic()
        for row in rows:
            settle = partial(self._settle, self._generation, row.id)
            self._in_flight[row.id] = (row, now)
            try:
                self._publisher.publish(
                    row.topic, wire_payload(row, self._epoch), row.retain, settle
                )
            except (PublishRefused, ValueError) as error:
                # It would be refused again: settle it as refused rather than block the queue.
                settle(Puback(UNSPECIFIED_ERROR, f"not sent: {error}"))
            except BaseException:
                # The connection is unusable; rows taken and not published stay handed
                # over until release() gives them back.
                del self._in_flight[row.id]
                raise
            self._sent += 1
        return len(rows)

    def _settle(self, generation: int, row_id: int, puback: Puback) -> None:
        # Any thread (a network thread, often): queue and wake, nothing more.
        self._settled.append((generation, row_id, puback))
        self._wake()

    def _collect(self) -> None:
        settled: list[tuple[int, int, Puback]] = []
        while self._settled:
            settled.append(self._settled.popleft())
        mine = [(row_id, puback) for gen, row_id, puback in settled if gen == self._generation]
        done: list[Row] = []
        refused: list[tuple[Row, Puback]] = []
        held = 0
        for row_id, puback in mine:
            flight = self._in_flight.get(row_id)
            if flight is None:
                continue
            row = flight[0]
            if puback.refused:
                refused.append((row, puback))
            elif puback.to_nobody and self._resend and not row.retain:
                held += 1  # still handed over in the outbox: released when the retry is due
            else:
                done.append(row)
        if not (done or refused or held):
            return
        replacements = [m for row, why in refused for m in self._refusal(row, why)]
        try:
            if replacements:
                # Stored before the refused rows are deleted: a crash in between repeats a
                # message, it never loses one.
                self.outbox.put(replacements, stream=self.stream)
            self.outbox.ack([row.id for row in done], [row.id for row, _ in refused])
        except BaseException:
            self._settled.extendleft(reversed(settled))  # the outbox rolled back: next round
            raise
        for row_id, _ in mine:
            self._in_flight.pop(row_id, None)
        self.acked.update(row.kind for row in done)
        self._refused += len(refused)
        if held:
            self._hold(held)

    def _refusal(self, row: Row, why: Puback) -> Sequence[OutMessage]:
        log.error("the broker refused message %d for %s: %s", row.id, row.topic, why.reason)
        return () if self._replace is None else self._replace(row, why)

    def _hold(self, count: int) -> None:
        if not self._held:
            log.warning(
                "the broker has no subscriber for %d message(s) (restarted? its subscribers "
                "not yet back): keeping them, trying again in %.0f s",
                count,
                self._retry_s,
            )
        self._held += count
        self._undelivered += count
        self._retry_at = time.monotonic() + self._retry_s
        if self._on_undelivered is not None:
            self._on_undelivered(count)
