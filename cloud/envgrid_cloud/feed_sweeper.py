"""The cloud's sweeps on a replayed feed's clock (``ENVGRID_CLOCK=feed``).

A replay with ``--feed-clock`` publishes ticks; each ingest worker reports on
``clock/ingested/{worker}`` the latest tick before which everything it received is committed
(``envgrid_cloud.ingest.feed_clock``), and never waits for the sweeps. The lowest tick all
workers have reported is the barrier: this sweeper, on its own thread and database pool, runs
the sweeps once the barrier has passed their due points (multiples of their intervals in feed
time, as on the wall clock): at the latest due point passed, or at due points at most
``MAX_SWEEP_GAP_NS`` apart if the barrier jumped further, and every sweep at the closing tick.
It then says on ``clock/swept`` how far they have run. The ingest may meanwhile have committed
readings from after a sweep's time: what the sweeps decide is dated by the data
(``envgrid_cloud.decision_time``) and does not depend on that (the no-data rule judges a
silence between two readings in the ingest itself), only on nothing before it missing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from envgrid_cloud.cases.pool import SyncPool, open_sync_pool
from envgrid_cloud.cases.sweeps import Sweep
from envgrid_cloud.ingest.feed_clock import BarrierFollower, worker_ids
from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import encode_tick, from_ns
from envgrid_common.mqtt import BrokerAddress, connect, new_client

log = logging.getLogger("envgrid.feedclock")

# Sweeps run at most this far apart in feed time, however far the barrier jumps (a replay
# faster than the sweeps): a deadline missed, or a node overdue, between two sweeps is then
# found within 5 minutes, inside decided_at's 10-minute grace, so it is dated at its own time
# as the live run's sweeps (every 30 s) dated it.
MAX_SWEEP_GAP_NS = 5 * 60 * 1_000_000_000


def feed_sweeps(settings: CloudSettings) -> list[Sweep]:
    """Every sweep the API runs on the wall clock, reminders included, for the feed's clock."""
    from envgrid_cloud.app import sweeps_for
    from envgrid_cloud.notify.reminders import INTERVAL_S, Reminders
    from envgrid_cloud.notify.service import REMINDERS

    sweeps = sweeps_for(settings)
    if settings.notify_enabled:
        sweeps.append(Sweep(REMINDERS, INTERVAL_S, Reminders.from_settings(settings)))
    return sweeps


def due(sweep: Sweep, done_ns: int | None, now_ns: int) -> bool:
    """Whether ``sweep`` runs at ``now_ns``, the clock having been at ``done_ns``: it has passed
    a multiple of the sweep's interval (the wall clock's timers, on the feed's time)."""
    if done_ns is None:
        return False  # the feed's start: an interval has yet to pass
    step = round(sweep.interval_s * 1e9)
    return now_ns // step > done_ns // step


def _steps(sweeps: Sequence[Sweep]) -> list[int]:
    return [round(sweep.interval_s * 1e9) for sweep in sweeps] or [1]


def sweep_times(
    done_ns: int, barrier_ns: int, steps: Sequence[int], max_gap_ns: int = MAX_SWEEP_GAP_NS
) -> list[int]:
    """Where to run the sweeps as the barrier moves from ``done_ns`` to ``barrier_ns``: the
    latest due point (a multiple of one of ``steps``) passed, after intermediate due points
    no more than ``max_gap_ns`` apart (the first due point after one, where none is closer)."""
    times: list[int] = []
    at = done_ns
    latest = max(barrier_ns // step * step for step in steps)
    while latest > at:
        if latest - at <= max_gap_ns:
            times.append(latest)
            break
        within = max((at + max_gap_ns) // step * step for step in steps)
        at = within if within > at else min((at // step + 1) * step for step in steps)
        times.append(at)
    return times


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
        self._lock = threading.Condition()
        self._target: int | None = None
        self._last_ns: int | None = None  # the closing tick's time, once all have committed it
        self._done_ns: int | None = None
        self._closed_ns: int | None = None  # the closing tick the sweeps last ran at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed-sweeper", daemon=True)
        self._address = BrokerAddress.parse(settings.mqtt_url)
        self._client = new_client(f"{settings.ingest_client_id}-feed-sweeper", self._address)
        self._follower = BarrierFollower(
            self._address,
            self._topics,
            worker_ids(settings),
            f"{settings.ingest_client_id}-feed-barrier",
            self._moved,
        )

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
        self._follower.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop following (a sweep under way finishes first)."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        self._follower.stop()
        self._thread.join(timeout_s)
        self._client.disconnect()
        self._client.loop_stop()
        if self._own_pool and self._pool is not None:
            self._pool.close()

    def _moved(self, barrier_ns: int, last_ns: int | None) -> None:
        with self._lock:
            self._target = max(self._target or barrier_ns, barrier_ns)
            if last_ns is not None and last_ns <= self._target:
                self._last_ns = last_ns
            self._lock.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                while not self._stop.is_set() and not self._behind():
                    self._lock.wait(1.0)
                if self._stop.is_set():
                    return
                target, last = self._target, self._last_ns
            assert target is not None
            self.sweep_to(target, self._answer)
            if last is not None and last != self._closed_ns:
                self.sweep_at_end(last)
            assert self._done_ns is not None
            self._answer(self._done_ns)

    def _behind(self) -> bool:
        target, last = self._target, self._last_ns
        if target is None:
            return False
        return target != self._done_ns or (last is not None and last != self._closed_ns)

    def _answer(self, done_ns: int) -> None:
        """Say the sweeps have run up to ``done_ns``."""
        self._client.publish(self._topics.clock_swept(), encode_tick(done_ns), qos=0)

    def sweep_to(self, now_ns: int, progress: Callable[[int], object] | None = None) -> None:
        """Run the sweeps due by ``now_ns`` (at the :func:`sweep_times`); the clock is then
        there. ``progress`` is handed each feed time they ran at."""
        before = self._done_ns
        if before is not None and now_ns > before:
            for at in sweep_times(before, now_ns, _steps(self._sweeps)):
                self._run_sweeps([s for s in self._sweeps if due(s, before, at)], at)
                before = self._done_ns = at
                if progress is not None:
                    progress(at)
        self._done_ns = now_ns if before is None else max(now_ns, before)

    def sweep_at_end(self, last_ns: int) -> None:
        """The closing tick: every sweep runs at its time (every decision due by then is made)."""
        self.sweep_to(last_ns)
        self._run_sweeps(self._sweeps, last_ns)
        self._closed_ns = last_ns

    def _run_sweeps(self, sweeps: Sequence[Sweep], now_ns: int) -> None:
        assert self._pool is not None
        now = from_ns(now_ns)
        for sweep in sweeps:
            try:
                with self._pool.connection() as conn:
                    result: Any = sweep.run(conn, now)
                log.debug("feed clock %s: %s → %s", now.isoformat(), sweep.name, result)
            except Exception:  # as on the wall clock: a failed sweep is logged, the clock goes on
                log.exception("sweep %r failed at feed time %s", sweep.name, now.isoformat())
