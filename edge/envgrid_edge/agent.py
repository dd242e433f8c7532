"""The sensor agent: poll the instrument on schedule, publish each reading through the outbox."""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from dataclasses import dataclass

from pydantic import ValidationError

from envgrid_common.clock import WallClock as Clock
from envgrid_common.messages import Reading
from envgrid_common.outbox import Kind, OutMessage
from envgrid_common.validation import describe
from envgrid_edge.config import NodeConfig
from envgrid_edge.drivers.base import Driver, DriverError
from envgrid_edge.link import CLOCK_FLOOR, NodeLink

log = logging.getLogger("envgrid.edge.agent")

STOP_TIMEOUT_S = 3.0
FIRST_CONNECT_WAIT_S = 5.0


@dataclass(slots=True)
class AgentCounters:
    """What the agent has done since it started."""

    readings: int = 0
    failed_reads: int = 0
    unstored: int = 0
    skipped_slots: int = 0


class SensorAgent:
    """One node: a driver, an outbox on disk and a sender that empties it into the broker."""

    def __init__(self, config: NodeConfig, driver: Driver, *, clock: Clock | None = None) -> None:
        self.config = config
        self.driver = driver
        self._readings_topic = config.topics.readings(config.node_id)
        self.counters = AgentCounters()
        self._failing = False
        self.link = NodeLink(config, "sensor", clock=clock)
        self.outbox = self.link.outbox
        self.sender = self.link.sender

    @property
    def next_seq(self) -> int:
        """The sequence number the next reading gets."""
        return self.link.next_seq

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, then say offline and close."""
        self.link.start()
        log.info(
            "node %s: polling every %gs, next seq %d, %d messages in the outbox %s",
            self.config.node_id,
            self.config.poll_interval_s,
            self.next_seq,
            len(self.outbox),
            self.outbox.path,
        )
        try:
            self._poll_loop(stop)
        finally:
            self._shutdown()

    def _poll_loop(self, stop: threading.Event) -> None:
        interval = self.config.poll_interval_s
        # A reading made before the first connection would go out as historical: give the
        # connection a moment (a broker that is down costs the first poll at most this).
        give_up = time.monotonic() + FIRST_CONNECT_WAIT_S
        while time.monotonic() < give_up and not stop.is_set():
            if self.sender.wait_connected(0.05):
                break
        # Monotonic deadlines: no drift, and wall-clock steps (NTP) do not bunch or skip polls.
        due = time.monotonic()
        if self.config.align:
            due += (interval - time.time() % interval) % interval
        next_progress = time.monotonic() + self.config.progress_interval_s
        while not stop.wait(max(0.0, due - time.monotonic())):
            self.poll_once()
            due += interval
            late = time.monotonic() - due
            if late > 0:
                # The poll overran (a slow instrument): skip the slots already missed.
                missed = math.ceil(late / interval)
                due += missed * interval
                self.counters.skipped_slots += missed
                log.warning("poll took too long: skipped %d slot(s)", missed)
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + self.config.progress_interval_s
                self.log_progress()

    def poll_once(self) -> Reading | None:
        """Read the instrument once and queue the reading; None if there was nothing to send."""
        at = self.link.now()
        if at < CLOCK_FLOOR:
            self._read_failed(f"clock reads {at.isoformat()}: not set, reading skipped")
            return None
        try:
            sample = self.driver.read(at)
            reading = Reading(
                seq=self.next_seq, ts=at, values=sample.values, flags=sample.flags or None
            )
        except DriverError as error:
            self._read_failed(str(error))
            return None
        except ValidationError as error:
            self._read_failed(f"driver gave an invalid reading: {describe(error)}")
            return None
        payload = reading.model_dump_json(exclude_defaults=True).encode()
        try:
            # The next seq is stored with the reading, in one transaction: no gap, no repeat.
            self.link.submit(
                [OutMessage(Kind.READING, self._readings_topic, payload)],
                counters={self.link.seq_key: reading.seq + 1},
            )
        except (sqlite3.Error, OSError) as error:
            # A full or failing disk: this reading is lost (and said so); the next may fit.
            self.counters.unstored += 1
            log.error("could not store reading %d in the outbox: %s", reading.seq, error)
            return None
        self.counters.readings += 1
        if self._failing:
            self._failing = False
            log.info("reads work again (%d failed so far)", self.counters.failed_reads)
        return reading

    def _read_failed(self, why: str) -> None:
        # A failed read is skipped, not sent flagged: the cloud's no-data rule sees the gap.
        self.counters.failed_reads += 1
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "read failed, skipped: %s", why)
        self._failing = True

    def log_progress(self) -> None:
        """One line: readings, failures, the link and its outbox."""
        log.info(
            "node %s: %d readings (%d failed reads), %s",
            self.config.node_id,
            self.counters.readings,
            self.counters.failed_reads,
            self.link.describe(),
        )

    def _shutdown(self) -> None:
        try:
            self.link.say_offline_and_stop(STOP_TIMEOUT_S)
            self.log_progress()
        finally:
            try:
                self.driver.close()
            finally:
                self.link.close()
