"""A virtual sensor node: report on schedule into the outbox, publish from it when connected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import sqlite3
import time
import zlib
from dataclasses import dataclass
from datetime import datetime

import aiomqtt

from envgrid_common.clock import WallClock as Clock
from envgrid_common.clock import shanghai_now
from envgrid_common.messages import NodeState, NodeStatus, Reading
from envgrid_common.outbox import Kind, Outbox, OutMessage, Pump
from envgrid_common.sequence import FIRST_SEQ, seq_counter
from envgrid_common.signals import NodeSignals
from envgrid_sim.link import LinkConfig, NodeClient
from envgrid_sim.scenario import NodeSpec

log = logging.getLogger("envgrid.sim")

DRAIN_S = 3.0  # how long a graceful stop waits for the outbox of a node to empty


def china_now() -> datetime:
    """Now, in China time, to the millisecond (what a node's RTC would stamp)."""
    now = shanghai_now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(slots=True)
class Backoff:
    """Reconnection delays: doubling from ``first`` up to ``most``, with jitter."""

    first: float = 0.5
    most: float = 30.0
    _next: float = 0.0

    def reset(self) -> None:
        """After a good connection, start again from ``first``."""
        self._next = 0.0

    def delay(self) -> float:
        """The next delay; jitter keeps a whole township from reconnecting in lockstep."""
        self._next = min(self.most, max(self.first, self._next * 2))
        return self._next * random.uniform(0.8, 1.0)


@dataclass(slots=True)
class NodeCounters:
    """What a node has done so far."""

    produced: int = 0
    sent: int = 0  # readings acknowledged by the broker
    failed: int = 0
    connects: int = 0
    connected: bool = False


class VirtualNode:
    """One node of a simulated township: its own MQTT connection, its own stream of an outbox.

    Two tasks: the producer stores a reading into the outbox on schedule whether or not the
    broker is there; the link connects (again and again) and drives the node's
    :class:`~envgrid_common.outbox.Pump`, which moves its rows to the broker a window at a
    time, deletes each on its PUBACK and marks what waited historical.
    """

    def __init__(
        self,
        spec: NodeSpec,
        signals: NodeSignals,
        link: LinkConfig,
        *,
        clock: Clock = china_now,
        reconnect_max_s: float = 30.0,
    ) -> None:
        self.spec = spec
        self.signals = signals
        self.link = link
        self.counters = NodeCounters()
        self._clock = clock
        self._backoff = Backoff(most=reconnect_max_s)
        self._halt = asyncio.Event()  # set on a power cut: stop without saying goodbye
        self._wake = asyncio.Event()  # a reading to send, a PUBACK, a lost connection, stop
        self._client: NodeClient | None = None
        self._pump: Pump | None = None
        self._store_failures = 0

    @property
    def node_id(self) -> str:
        """This node's id."""
        return self.spec.node.id

    @property
    def interval(self) -> float:
        """Seconds between two readings."""
        return self.spec.node.report_interval_s

    def power_cut(self) -> None:
        """Drop the connection abruptly and stop: the broker publishes the offline Will."""
        self._halt.set()
        self._wake.set()
        if self._client is not None:
            self._client.pull_plug()

    def _stopping(self, stop: asyncio.Event) -> bool:
        return stop.is_set() or self._halt.is_set()

    async def run(self, stop: asyncio.Event, outbox: Outbox) -> None:
        """Report until ``stop`` is set (then say offline) or the power is cut."""
        # Power comes back on when run again after a cut (and asyncio events belong to a loop).
        self._halt = asyncio.Event()
        self._wake = asyncio.Event()
        producer = asyncio.create_task(self._produce(stop, outbox), name=f"{self.node_id}-read")
        try:
            await self._link(stop, outbox)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    # -- producing -----------------------------------------------------------------------------

    async def _produce(self, stop: asyncio.Event, outbox: Outbox) -> None:
        loop = asyncio.get_running_loop()
        # Nodes start at different points of their interval, so a township does not publish
        # in bursts.
        due = loop.time() + self.interval * (zlib.crc32(self.node_id.encode()) % 1000) / 1000
        while not await self._sleep(stop, due - loop.time()):
            self.produce_once(outbox)
            # Keep to the schedule; if the loop ran late, skip the slots already missed.
            due += self.interval * max(1, math.ceil((loop.time() - due) / self.interval))
        self._wake.set()

    def produce_once(self, outbox: Outbox) -> Reading | None:
        """Measure now and store the reading (with the next seq, in one transaction)."""
        key = seq_counter(self.node_id)
        ts = self._clock()
        reading = Reading(seq=outbox.counter(key, FIRST_SEQ), ts=ts, values=self.signals.sample(ts))
        payload = reading.model_dump_json(exclude_defaults=True).encode()
        message = OutMessage(Kind.READING, self.link.topics.readings(self.node_id), payload)
        try:
            self._pump_of(outbox).put([message], counters={key: reading.seq + 1})
        except (sqlite3.Error, OSError) as error:
            # A full or failing disk: this reading is lost (and said so); the next may fit.
            self._store_failures += 1
            self.counters.failed += 1
            log.error("%s: could not store reading %d: %s", self.node_id, reading.seq, error)
            return None
        self.counters.produced += 1
        self.signals.forget_before(ts)
        self._wake.set()
        return reading

    def _pump_of(self, outbox: Outbox) -> Pump:
        if self._pump is None or self._pump.outbox is not outbox:
            self._pump = Pump(
                outbox,
                stream=self.node_id,
                window=self.link.window,
                # The township broker keeps a node's messages for the gateway's persistent
                # session: "no subscriber" there means nobody wants them (a bench, a test).
                resend_undelivered=False,
                wake=lambda: self._wake.set(),
            )
        return self._pump

    # -- the link ------------------------------------------------------------------------------

    async def _link(self, stop: asyncio.Event, outbox: Outbox) -> None:
        failures = 0
        pump = self._pump_of(outbox)
        while not self._stopping(stop):
            try:
                async with NodeClient(self.node_id, self.link, self._wake.set) as client:
                    self._client = client
                    pump.attach(client.publisher)
                    self._on_connected(failures, outbox)
                    failures = 0
                    self._status(pump, NodeState.ONLINE)
                    await self._drive(client, pump, stop)
                    if not self._halt.is_set():
                        self._status(pump, NodeState.OFFLINE)
                        await self._drive(client, pump, stop, drain_s=DRAIN_S)
            except aiomqtt.MqttError as error:
                failures += 1
                # One warning per outage (none for a deliberate power cut); the progress line
                # shows how many nodes are down and how much waits on disk.
                quiet = failures > 1 or self._halt.is_set()
                log.log(
                    logging.DEBUG if quiet else logging.WARNING,
                    "%s: no connection to %s (%s); readings kept on disk, retrying",
                    self.node_id,
                    self.link.address,
                    error,
                )
            finally:
                self._client = None
                self.counters.connected = False
                # A new client does not resend what the old one had in flight: the outbox does.
                pump.attach(None)
            if not self._stopping(stop):
                await self._sleep(stop, self._backoff.delay())

    def _on_connected(self, failures: int, outbox: Outbox) -> None:
        self.counters.connects += 1
        self.counters.connected = True
        self._backoff.reset()
        if failures:
            waiting = " with a backlog to send" if outbox.pending(self.node_id) else ""
            log.info("%s: reconnected to %s%s", self.node_id, self.link.address, waiting)

    def _status(self, pump: Pump, state: NodeState) -> None:
        status = NodeStatus(state=state, ts=self._clock(), kind="sensor")
        payload = status.model_dump_json(exclude_none=True).encode()
        topic = self.link.topics.status(self.node_id)
        message = OutMessage(Kind.STATUS, topic, payload, retain=True, key=self.node_id)
        pump.put([message])
        self._wake.set()

    async def _drive(
        self,
        client: NodeClient,
        pump: Pump,
        stop: asyncio.Event,
        *,
        drain_s: float | None = None,
    ) -> None:
        """Step the pump until stopped (or, draining, until nothing is left)."""
        timeout_s = self.link.publish_timeout_s
        give_up = None if drain_s is None else time.monotonic() + drain_s
        while True:
            self._wake.clear()
            pump.collect()
            self._count(pump)
            if client.lost:
                raise aiomqtt.MqttError("connection lost")
            if self._halt.is_set() or (drain_s is None and stop.is_set()):
                return
            sent = pump.step()
            self._count(pump)
            if give_up is not None and (
                (not sent and not pump.in_flight) or time.monotonic() >= give_up
            ):
                return
            now = time.monotonic()
            wait: float | None = None
            if pump.in_flight:
                waited = pump.oldest_in_flight_s()
                if waited > timeout_s:
                    raise aiomqtt.MqttError(f"no PUBACK within {timeout_s:g} s")
                wait = timeout_s - waited
            if give_up is not None:
                wait = min(wait if wait is not None else math.inf, give_up - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _count(self, pump: Pump) -> None:
        self.counters.sent = pump.acked[Kind.READING]
        self.counters.failed = self._store_failures + pump.stats().refused

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> bool:
        """Wait ``seconds``; True as soon as the node must stop (``stop`` or a power cut)."""
        if self._stopping(stop):
            return True
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._halt.wait())]
        try:
            await asyncio.wait(
                waits, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for w in waits:
                w.cancel()
        return self._stopping(stop)
