"""The cloud's sweeps on a replayed feed's clock (``ENVGRID_CLOCK=feed``).

A replay with ``--feed-clock`` publishes ticks; each ingest worker holds its messages after a
tick, commits everything before it and reports the tick on ``clock/ingested/{worker}``. Once
every worker has reported a tick (the barrier), this sweeper runs each sweep whose interval
boundary (a multiple of its interval, in feed time) the tick has passed, at the tick's time,
and answers on ``clock/swept`` with the feed time of the next sweep due: the workers go on, and
hold again only at the first tick from then on. So a sweep at feed time T sees every
message received before the tick at T committed, and none after it, at any replay speed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_cloud.cases.pool import SyncPool, open_sync_pool
from envgrid_cloud.cases.sweeps import Sweep
from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import decode_tick, encode_tick, from_ns
from envgrid_common.mqtt import BrokerAddress, connect, new_client

log = logging.getLogger("envgrid.feedclock")


def worker_ids(settings: CloudSettings) -> list[str]:
    """The client ids of this cloud's ingest workers (those the barrier waits for)."""
    return [f"{settings.ingest_client_id}-{i}" for i in range(settings.ingest_workers)]


def feed_sweeps(settings: CloudSettings) -> list[Sweep]:
    """Every sweep the API runs on the wall clock, reminders included, for the feed's clock."""
    from envgrid_cloud.app import sweeps_for
    from envgrid_cloud.notify.reminders import INTERVAL_S, Reminders
    from envgrid_cloud.notify.service import REMINDERS

    sweeps = sweeps_for(settings)
    if settings.notify_enabled:
        sweeps.append(Sweep(REMINDERS, INTERVAL_S, Reminders.from_settings(settings)))
    return sweeps


class Barrier:
    """The feed time every expected worker has committed up to (None until all reported)."""

    def __init__(self, workers: Sequence[str]) -> None:
        self._reported: dict[str, int] = dict.fromkeys(workers, -1)

    def report(self, worker: str, feed_ns: int) -> int | None:
        """Note ``worker`` at ``feed_ns``; the barrier now."""
        if worker in self._reported:
            self._reported[worker] = max(self._reported[worker], feed_ns)
        return self.value

    @property
    def value(self) -> int | None:
        """The lowest tick reported, once every worker has reported one."""
        low = min(self._reported.values(), default=-1)
        return low if low >= 0 else None


def due(sweep: Sweep, done_ns: int | None, now_ns: int) -> bool:
    """Whether ``sweep`` runs at ``now_ns``, the clock having been at ``done_ns``: it has passed
    a multiple of the sweep's interval (the wall clock's timers, on the feed's time)."""
    if done_ns is None:
        return False  # the feed's start: an interval has yet to pass
    step = round(sweep.interval_s * 1e9)
    return now_ns // step > done_ns // step


class FeedSweeper:
    """Follows the ingest's barrier and runs the sweeps on it; see the module's description."""

    def __init__(
        self,
        settings: CloudSettings,
        sweeps: Sequence[Sweep] | None = None,
        pool: SyncPool | None = None,
    ) -> None:
        self._settings = settings
        self._topics = settings.topics
        self._sweeps = list(sweeps) if sweeps is not None else feed_sweeps(settings)
        self._pool = pool
        self._own_pool = pool is None
        self._barrier = Barrier(worker_ids(settings))
        self._lock = threading.Condition()
        self._target: int | None = None
        self._done_ns: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed-sweeper", daemon=True)
        self._address = BrokerAddress.parse(settings.mqtt_url)
        self._client = new_client(f"{settings.ingest_client_id}-feed-sweeper", self._address)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message

    @property
    def done_ns(self) -> int | None:
        """The feed time the sweeps have run up to."""
        return self._done_ns

    def start(self) -> FeedSweeper:
        """Open the database pool, connect, follow the workers' reports."""
        if self._pool is None:
            self._pool = open_sync_pool(self._settings.database_url)
        connect(self._client, self._address)
        self._client.loop_start()
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop following (a sweep under way finishes first)."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        self._thread.join(timeout_s)
        self._client.disconnect()
        self._client.loop_stop()
        if self._own_pool and self._pool is not None:
            self._pool.close()

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if not reason.is_failure:
            client.subscribe(self._topics.any_clock_ingested(), qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        worker = message.topic.rsplit("/", 1)[-1]
        try:
            feed_ns = decode_tick(message.payload)
        except ValueError:
            log.warning("feed clock: not a tick from %s: %r", worker, message.payload[:80])
            return
        with self._lock:
            value = self._barrier.report(worker, feed_ns)
            if value is not None and (self._target is None or value > self._target):
                self._target = value
                self._lock.notify_all()
            done = self._done_ns
        if done is not None and feed_ns <= done:
            # A worker still held at a tick swept already missed the answer: again.
            self._answer(done)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                while not self._stop.is_set() and (
                    self._target is None or self._target == self._done_ns
                ):
                    self._lock.wait(1.0)
                if self._stop.is_set():
                    return
                target = self._target
            assert target is not None
            self.sweep_to(target)
            self._answer(target)

    def _answer(self, done_ns: int) -> None:
        """Say the sweeps are at ``done_ns``, and when the next one is due."""
        payload = encode_tick(done_ns, self.next_due(done_ns))
        self._client.publish(self._topics.clock_swept(), payload, qos=0)

    def next_due(self, done_ns: int) -> int:
        """The feed time of the next interval boundary of any sweep after ``done_ns``."""
        steps = [round(s.interval_s * 1e9) for s in self._sweeps] or [1]
        return min((done_ns // step + 1) * step for step in steps)

    def sweep_to(self, now_ns: int) -> None:
        """Run every sweep due by ``now_ns`` at that time; the clock is then there."""
        assert self._pool is not None
        now = from_ns(now_ns)
        for sweep in self._sweeps:
            if not due(sweep, self._done_ns, now_ns):
                continue
            try:
                with self._pool.connection() as conn:
                    result: Any = sweep.run(conn, now)
                log.debug("feed clock %s: %s → %s", now.isoformat(), sweep.name, result)
            except Exception:  # as on the wall clock: a failed sweep is logged, the clock goes on
                log.exception("sweep %r failed at feed time %s", sweep.name, now.isoformat())
        self._done_ns = now_ns
