"""The cloud's ingest worker processes: started, restarted when one exits, stopped in time."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import FeedClock
from envgrid_common.lifecycle import Restarts, describe_exit, die_with_parent

if TYPE_CHECKING:
    from envgrid_cloud.ingest.store import Judge

log = logging.getLogger("envgrid.cloud")

# Parts of the time IngestWorkers.stop is given (0.9 of ENVGRID_STOP_TIMEOUT_S). A worker's
# drain takes at most 0.6 of the bound (2/3 of this time); those still running at DRAIN_SHARE
# get SIGTERM, those still running at TERMINATE_SHARE SIGKILL.
DRAIN_SHARE = 0.75
TERMINATE_SHARE = 0.85


def worker_process(
    settings: CloudSettings, index: int, stop_request: Connection, parent_pid: int
) -> None:
    """A worker process: ingest until its stop pipe closes, then drain (commit and ack) and end."""
    # The pipe closes when the parent asks for a drain, and also when the parent is gone.
    die_with_parent(parent_pid)
    # A Ctrl-C reaches the whole process group: the parent decides the order of the stop.
    # SIGTERM keeps its default, ending the process at once: the parent's second step, for a
    # worker that has not drained in time.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from envgrid_cloud.ingest.worker import run_worker
    from envgrid_common.logs import setup_logging

    setup_logging(settings.log_level)
    stop = threading.Event()
    threading.Thread(
        target=_set_on_end_of_file, args=(stop_request, stop), name="stop-request", daemon=True
    ).start()
    # On the feed's clock the rules and the store read the same clock, the batch's feed time.
    clock = FeedClock() if settings.clock == "feed" else None
    run_worker(settings, index, stop, judge_for(settings, clock), clock)


def judge_for(settings: CloudSettings, clock: FeedClock | None = None) -> Judge | None:
    """What judges a worker's batches: the rules engine, unless the rules are turned off."""
    # Wired here, where the worker is built, so that the ingest and the rules never import
    # each other.
    from envgrid_cloud.rules.engine import RuleEngine

    if not settings.rules_enabled:
        return None
    return RuleEngine(clock=clock) if clock is not None else RuleEngine()


def _set_on_end_of_file(pipe: Connection, stop: threading.Event) -> None:
    try:
        while True:
            pipe.recv_bytes()
    except (EOFError, OSError):
        stop.set()


@dataclass
class _Worker:
    """One running (or exited) worker process and what its supervision knows of it."""

    index: int
    process: BaseProcess
    # Our end of its stop pipe: closing it asks the worker to drain.
    stop_request: Connection
    started_at: float
    restarts: Restarts = field(default_factory=Restarts)
    restart_at: float | None = None


class IngestWorkers:
    """``count`` ingest processes kept running until :meth:`stop`; used from the main thread."""

    # Linux signals a child's death-of-parent when the thread that started it ends: workers
    # are started only by start() and supervise(), from the main thread, which lasts.

    def __init__(self, settings: CloudSettings, count: int) -> None:
        self._settings = settings
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []

    def __len__(self) -> int:
        return self._count

    def start(self) -> IngestWorkers:
        """Start the workers."""
        self._workers = [self._spawn(index, Restarts()) for index in range(self._count)]
        return self

    def _spawn(self, index: int, restarts: Restarts) -> _Worker:
        theirs, ours = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=worker_process,
            args=(self._settings, index, theirs, os.getpid()),
            name=f"ingest-{index}",
            daemon=False,
        )
        process.start()
        theirs.close()  # the child has its copy; ours would hide the parent's end of file
        return _Worker(index, process, ours, time.monotonic(), restarts)

    def supervise(self) -> None:
        """Restart each worker that exited, once its back-off has passed."""
        now = time.monotonic()
        for slot, worker in enumerate(self._workers):
            if worker.restart_at is None:
                status = worker.process.exitcode
                if status is None:
                    continue
                delay = worker.restarts.delay_after(now - worker.started_at)
                worker.restart_at = now + delay
                worker.stop_request.close()
                log.warning(
                    "ingest-%d (pid %s) exited unexpectedly (%s); restarting it in %g s",
                    worker.index,
                    worker.process.pid,
                    describe_exit(status),
                    delay,
                )
            elif now >= worker.restart_at:
                worker.process.close()
                fresh = self._workers[slot] = self._spawn(worker.index, worker.restarts)
                log.info("ingest-%d restarted (pid %s)", fresh.index, fresh.process.pid)

    def stop(self, timeout_s: float) -> None:
        """Ask every worker to drain; terminate, then kill, those still running as time runs out."""
        started = time.monotonic()
        for worker in self._workers:
            worker.stop_request.close()
        running = [w.process for w in self._workers if w.restart_at is None]
        running = _still_running(running, started + DRAIN_SHARE * timeout_s)
        for process in running:
            log.warning("%s did not drain in time: terminating it", process.name)
            process.terminate()
        running = _still_running(running, started + TERMINATE_SHARE * timeout_s)
        for process in running:
            log.error("%s did not end on SIGTERM: killing it", process.name)
            process.kill()
        for process in _still_running(running, started + timeout_s):
            log.error("%s (pid %s) is still there after SIGKILL", process.name, process.pid)


def _still_running(processes: list[BaseProcess], deadline: float) -> list[BaseProcess]:
    """Wait until ``deadline`` for ``processes`` to end; return those that have not."""
    pending = [p for p in processes if p.exitcode is None]
    while pending and (left := deadline - time.monotonic()) > 0:
        multiprocessing.connection.wait([p.sentinel for p in pending], timeout=left)
        pending = [p for p in pending if p.exitcode is None]
    return pending
