"""A virtual sensor node: connect, say online, report on schedule, reconnect, say offline."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import aiomqtt

from envgrid_common.messages import NodeState, NodeStatus, Reading
from envgrid_sim.link import LinkConfig, NodeClient, PublishRejected
from envgrid_sim.scenario import NodeSpec
from envgrid_sim.seqstore import SeqStore
from envgrid_sim.signals import CHINA, NodeSignals

log = logging.getLogger("envgrid.sim")

Clock = Callable[[], datetime]


def china_now() -> datetime:
    """Now, in China time, to the millisecond (what a node's RTC would stamp)."""
    now = datetime.now(CHINA)
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

    sent: int = 0
    failed: int = 0
    connects: int = 0
    connected: bool = False


class VirtualNode:
    """One node of a simulated township, with its own MQTT connection."""

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
        self._client: NodeClient | None = None
        # A reading whose PUBACK never came: it goes again, unchanged, after reconnecting.
        self._unacked: tuple[int, bytes] | None = None  # (seq, payload)

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
        if self._client is not None:
            self._client.pull_plug()

    async def run(self, stop: asyncio.Event, seqs: SeqStore) -> None:
        """Report until ``stop`` is set (then say offline) or the power is cut."""
        # Power comes back on when run again after a cut (and asyncio events belong to a loop).
        self._halt = asyncio.Event()
        failures = 0
        while not (stop.is_set() or self._halt.is_set()):
            try:
                async with NodeClient(self.node_id, self.link) as client:
                    self._client = client
                    self._on_connected(failures)
                    failures = 0
                    await self._status(client, NodeState.ONLINE)
                    await self._report(client, stop, seqs)
                    if not self._halt.is_set():
                        await self._status(client, NodeState.OFFLINE)
            except aiomqtt.MqttError as error:
                failures += 1
                # One warning per outage (none for a deliberate power cut); the progress line
                # shows how many nodes are down.
                quiet = failures > 1 or self._halt.is_set()
                pending = f", seq {self._unacked[0]} to be sent again" if self._unacked else ""
                log.log(
                    logging.DEBUG if quiet else logging.WARNING,
                    "%s: no connection to %s (%s); retrying%s",
                    self.node_id,
                    self.link.address,
                    error,
                    pending,
                )
            finally:
                self._client = None
                self.counters.connected = False
            if not (stop.is_set() or self._halt.is_set()):
                await self._sleep(stop, self._backoff.delay())
        if self._unacked is not None:
            log.warning("%s: stopped with seq %d unacknowledged", self.node_id, self._unacked[0])

    def _on_connected(self, failures: int) -> None:
        self.counters.connects += 1
        self.counters.connected = True
        self._backoff.reset()
        if failures:
            log.info("%s: reconnected to %s", self.node_id, self.link.address)

    async def _status(self, client: NodeClient, state: NodeState) -> None:
        status = NodeStatus(state=state, ts=self._clock(), kind="sensor")
        payload = status.model_dump_json(exclude_none=True).encode()
        await self._publish(client, self.link.topics.status(self.node_id), payload, retain=True)

    async def _report(self, client: NodeClient, stop: asyncio.Event, seqs: SeqStore) -> None:
        loop = asyncio.get_running_loop()
        topic = self.link.topics.readings(self.node_id)
        if self._unacked is not None:
            if await self._publish(client, topic, self._unacked[1]):
                self.counters.sent += 1
            self._unacked = None
        # Nodes start at different points of their interval, so a township does not publish
        # in bursts.
        due = loop.time() + self.interval * (zlib.crc32(self.node_id.encode()) % 1000) / 1000
        while not await self._sleep(stop, due - loop.time()):
            ts = self._clock()
            reading = Reading(seq=seqs.next(self.node_id), ts=ts, values=self.signals.sample(ts))
            payload = reading.model_dump_json(exclude_defaults=True).encode()
            self._unacked = (reading.seq, payload)
            if await self._publish(client, topic, payload):
                self.counters.sent += 1
            self._unacked = None
            self.signals.forget_before(ts)
            # Keep to the schedule; if publishing ran late, skip the slots already missed.
            due += self.interval * max(1, math.ceil((loop.time() - due) / self.interval))

    async def _publish(
        self, client: NodeClient, topic: str, payload: bytes, *, retain: bool = False
    ) -> bool:
        """Publish at QoS 1; False if the broker refused it, raise if the link failed."""
        try:
            await client.publish_checked(topic, payload, qos=1, retain=retain)
        except PublishRejected as error:
            # Sending it again would be refused again: count it, say so, carry on.
            self.counters.failed += 1
            log.error("%s: %s", self.node_id, error)
            return False
        except aiomqtt.MqttError as error:
            # The caller reconnects and says so; name what failed for its log line.
            self.counters.failed += 1
            raise aiomqtt.MqttError(f"publish to {topic} failed: {error}") from error
        return True

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> bool:
        """Wait ``seconds``; True as soon as the node must stop (``stop`` or a power cut)."""
        if stop.is_set() or self._halt.is_set():
            return True
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._halt.wait())]
        try:
            await asyncio.wait(
                waits, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for w in waits:
                w.cancel()
        return stop.is_set() or self._halt.is_set()
