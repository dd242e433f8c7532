"""Thousands of virtual sensor nodes on one event loop: timers, not tasks, per node.

Each node is a few fields and one timer handle. On its slot it samples its signals, stamps
the reading with its own (skewed) clock and publishes it at QoS 1 on its session: its own MQTT
connection with its own Last Will, or one of a few connections it shares with others
(multiplexed). Readings wait in memory, bounded per node, while a session is down and go out
marked historical once it is back; the scale mode trades the township mode's disk outbox for
that (see docs/scenarios.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import resource
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from envgrid_common.messages import NodeState, NodeStatus, Reading
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.signals import Incident, NodeSignals
from envgrid_common.topics import Topics
from envgrid_sim.node import Backoff, china_now
from envgrid_sim.scenario import NodeSpec
from envgrid_sim.swarm import wire
from envgrid_sim.swarm.lateness import Lateness
from envgrid_sim.swarm.seqs import SeqBook
from envgrid_sim.swarm.session import InFlight, Session

log = logging.getLogger("envgrid.sim")

# File descriptors a process needs besides one per session (logs, SQLite, the loop itself).
FD_SPARE = 64


@dataclass(frozen=True, slots=True)
class SwarmOptions:
    """How a swarm connects and how its nodes keep time."""

    address: BrokerAddress
    topics: Topics
    client_id_prefix: str = ""
    connections: int = 0  # 0: a session (and a Last Will) per node; N: N shared connections
    keepalive_s: int = 60
    jitter_s: float = 0.2  # standard deviation of a reading's offset from its slot
    skew_s: float = 2.0  # standard deviation of the nodes' clock offsets (their RTCs)
    backlog: int = 360  # readings a node keeps in memory while its session is down
    window: int = 100  # PUBLISHes in flight per connection
    connect_at_once: int = 200  # connection attempts under way together
    connect_timeout_s: float = 10.0
    reconnect_max_s: float = 30.0
    seed: int = 0


@dataclass(slots=True, eq=False)
class SwarmNode:
    """One virtual node of a swarm."""

    spec: NodeSpec
    signals: NodeSignals
    topic: bytes
    status_topic: bytes
    skew: timedelta
    session: Session | None = None
    backlog: deque[Reading] = field(default_factory=deque)
    timer: asyncio.TimerHandle | None = None
    dark: bool = False
    waiting: bool = False  # in its session's queue of nodes with readings held
    produced: int = 0
    acked: int = 0
    dropped: int = 0

    @property
    def node_id(self) -> str:
        """This node's id."""
        return self.spec.node.id


@dataclass(slots=True)
class SwarmCounters:
    """What a swarm has done so far."""

    produced: int = 0
    published: int = 0
    acked: int = 0
    refused: int = 0
    held: int = 0  # readings that waited in memory for a session
    dropped: int = 0  # readings given up because a node's backlog was full
    lateness: Lateness = field(default_factory=Lateness)  # slot → PUBLISH written
    ack_s: Lateness = field(default_factory=Lateness)  # PUBLISH → PUBACK


class Swarm:
    """The nodes of a scenario run as a swarm: see the module docstring."""

    def __init__(
        self,
        specs: tuple[NodeSpec, ...],
        options: SwarmOptions,
        seq_book: SeqBook,
        *,
        signal_seed: int = 0,
        clock: Callable[[], datetime] = china_now,
    ) -> None:
        self.options = options
        self.counters = SwarmCounters()
        self._seqs = seq_book
        self._clock = clock
        self._rng = random.Random(options.seed)
        topics = options.topics
        self.nodes: dict[str, SwarmNode] = {}
        for spec in specs:
            node_id = spec.node.id
            self.nodes[node_id] = SwarmNode(
                spec,
                spec.signals(signal_seed),
                topics.readings(node_id).encode(),
                topics.status(node_id).encode(),
                timedelta(seconds=round(self._rng.gauss(0.0, options.skew_s), 3)),
                backlog=deque(maxlen=options.backlog),
            )
        self.sessions: list[Session] = []
        self._members: dict[Session, list[SwarmNode]] = {}
        self._waiting: dict[Session, deque[SwarmNode]] = {}
        self._stop = asyncio.Event()
        self._reconnects: set[asyncio.Task[None]] = set()
        self._base: tuple[float, datetime] | None = None
        self._cut = False  # a power cut: no reconnecting, no goodbye

    # -- control -------------------------------------------------------------------------------

    def inject(self, node_id: str, incident: Incident) -> None:
        """Make one node's metric misbehave on purpose."""
        self.nodes[node_id].signals.inject(incident)

    def go_dark(self, node_id: str, for_s: float) -> None:
        """The node loses power for ``for_s``: no readings; its own session drops (its Will
        goes out); a shared session stays up for the others."""
        node = self.nodes[node_id]
        node.dark = True
        own = self.options.connections == 0
        if own and node.session is not None:
            node.session.abort()
        loop = asyncio.get_running_loop()
        loop.call_later(for_s, self._light, node)

    def power_cut(self) -> None:
        """Every node loses power at once: connections drop without DISCONNECT (the broker
        publishes each session's Will) and nothing reconnects; then stop the run."""
        self._cut = True
        for node in self.nodes.values():
            node.dark = True
        for session in self.sessions:
            session.abort()

    def _light(self, node: SwarmNode) -> None:
        if self._cut:
            return
        node.dark = False
        if node.backlog:
            self._queue(node)
            if node.session is not None and node.session.up:
                self._flush(node.session)
        if self.options.connections == 0 and node.session is not None and not node.session.up:
            self._reconnect_later(node.session, 0.0)

    @property
    def connected(self) -> int:
        """Sessions up right now."""
        return sum(s.up for s in self.sessions)

    def check_limits(self) -> None:
        """Raise ValueError if the process may not open enough connections for its sessions."""
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = self._session_count() + FD_SPARE
        if soft != resource.RLIM_INFINITY and need > soft:
            raise ValueError(
                f"{len(self.nodes)} nodes with a session each need {need} open files; this "
                f"process may open {soft} (ulimit -n): raise it, or share connections "
                "(--connections N)"
            )

    def _session_count(self) -> int:
        return self.options.connections or len(self.nodes)

    # -- running -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, drain_s: float = 3.0) -> None:
        """Connect, report on schedule until ``stop``, then say offline and disconnect."""
        self._stop = stop
        self._make_sessions()
        loop = asyncio.get_running_loop()
        self._base = (loop.time(), self._clock())
        await self._connect_all()
        # Slots spread evenly by node id, as a township's nodes are switched on at random.
        now = loop.time()
        for node in self.nodes.values():
            interval = node.spec.node.report_interval_s
            slot = now + interval * (zlib.crc32(node.node_id.encode()) / 2**32)
            due = slot + abs(self._jitter(interval))
            node.timer = loop.call_at(due, self._fire, node, slot, due)
        house = asyncio.create_task(self._housekeeping(), name="swarm-housekeeping")
        try:
            await stop.wait()
        finally:
            house.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await house
            for node in self.nodes.values():
                if node.timer is not None:
                    node.timer.cancel()
            for task in list(self._reconnects):
                task.cancel()
            await asyncio.gather(*self._reconnects, return_exceptions=True)
            await self._say_goodbye(drain_s)

    def _make_sessions(self) -> None:
        opts, address = self.options, self.options.address
        nodes = list(self.nodes.values())
        if opts.connections == 0:
            groups = [[n] for n in nodes]
            names = [f"{opts.client_id_prefix}{n.node_id}" for n in nodes]
        else:
            count = min(opts.connections, max(1, len(nodes)))
            groups = [nodes[i::count] for i in range(count)]
            names = [f"{opts.client_id_prefix}swarm-{i}" for i in range(count)]
        for name, members in zip(names, groups, strict=True):
            own = opts.connections == 0
            will = self._offline_will(members[0]) if own else None
            session = Session(
                name,
                v5=address.v5,
                keepalive_s=opts.keepalive_s,
                will=will,
                username=address.username,
                password=address.password,
                on_up=self._up,
                on_down=self._down,
            )
            self.sessions.append(session)
            self._members[session] = members
            self._waiting[session] = deque()
            for node in members:
                node.session = session

    def _offline_will(self, node: SwarmNode) -> wire.Will:
        # As the township mode's: no ts, the Will is set at connect time.
        payload = NodeStatus(state=NodeState.OFFLINE, kind="sensor").model_dump_json(
            exclude_none=True
        )
        return wire.Will(node.status_topic.decode(), payload.encode())

    async def _connect_all(self) -> None:
        gate = asyncio.Semaphore(self.options.connect_at_once)

        async def first(session: Session) -> None:
            async with gate:
                if not await self._try(session):
                    self._reconnect_later(session, None)

        await asyncio.gather(*(first(s) for s in self.sessions))
        log.info(
            "swarm: %d nodes on %d/%d connections to %s",
            len(self.nodes),
            self.connected,
            len(self.sessions),
            self.options.address,
        )

    async def _try(self, session: Session) -> bool:
        address = self.options.address
        try:
            await session.open(address.host, address.port, self.options.connect_timeout_s)
        except (OSError, TimeoutError, ConnectionError) as error:
            log.debug("%s: no connection (%s)", session.client_id, error)
            return False
        return True

    def _reconnect_later(self, session: Session, delay_s: float | None) -> None:
        if self._stop.is_set() or self._cut:
            return
        task = asyncio.create_task(self._reconnect(session, delay_s))
        self._reconnects.add(task)
        task.add_done_callback(self._reconnects.discard)

    async def _reconnect(self, session: Session, delay_s: float | None) -> None:
        backoff = Backoff(most=self.options.reconnect_max_s)
        delay = backoff.delay() if delay_s is None else delay_s
        while not self._stop.is_set() and not self._cut:
            await asyncio.sleep(delay)
            if self._stop.is_set() or self._cut:
                return
            members = self._members[session]
            if self.options.connections == 0 and members[0].dark:
                return  # powered off: _light reconnects it
            if await self._try(session):
                return
            delay = backoff.delay()

    def _up(self, session: Session) -> None:
        """Connected: say online (retained) for its nodes, then send what waited."""
        ts = self._now()
        for node in self._members[session]:
            if node.dark:
                continue
            status = NodeStatus(state=NodeState.ONLINE, ts=ts, kind="sensor")
            session.publish(node.status_topic, status.model_dump_json().encode(), retain=True)
        self._flush(session)

    def _down(self, session: Session, lost: list[InFlight]) -> None:
        """Connection gone: readings in flight go back to their nodes' backlogs; reconnect."""
        for sent in reversed(lost):
            again = sent.item
            if isinstance(again, _Pending):
                again.node.backlog.appendleft(again.reading)
                self._queue(again.node)
        self._reconnect_later(session, None)

    def _queue(self, node: SwarmNode) -> None:
        if not node.waiting and node.session is not None:
            node.waiting = True
            self._waiting[node.session].append(node)

    # -- producing -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        """Wall time from the loop's clock (one clock read a reading, no system call)."""
        assert self._base is not None
        loop_t0, wall_t0 = self._base
        at = wall_t0 + timedelta(seconds=asyncio.get_running_loop().time() - loop_t0)
        return at.replace(microsecond=at.microsecond // 1000 * 1000)  # an RTC's milliseconds

    def _jitter(self, interval: float) -> float:
        """A reading's offset from its slot: a node's timer is never exact."""
        if not self.options.jitter_s:
            return 0.0
        return max(-interval / 4, min(interval / 4, self._rng.gauss(0.0, self.options.jitter_s)))

    def _fire(self, node: SwarmNode, slot: float, due: float) -> None:
        loop = asyncio.get_running_loop()
        interval = node.spec.node.report_interval_s
        now = loop.time()
        if not node.dark:
            self._produce(node, due, now)
        # Keep to the schedule; slots already missed are skipped, not bunched.
        slot += interval
        while slot < now:
            slot += interval
        due = slot + self._jitter(interval)
        node.timer = loop.call_at(due, self._fire, node, slot, due)

    def _produce(self, node: SwarmNode, due: float, now: float) -> None:
        at = self._now()
        node_id = node.node_id
        seq = self._seqs.next[node_id]
        self._seqs.next[node_id] = seq + 1
        # The physics follows true time; the node stamps it with its own clock.
        reading = Reading(seq=seq, ts=at + node.skew, values=node.signals.sample(at))
        node.signals.forget_before(at)
        node.produced += 1
        self.counters.produced += 1
        session = node.session
        if (
            session is not None
            and session.up
            and not node.backlog
            and len(session.in_flight) < self.options.window
        ):
            self._send(node, session, reading)
            self.counters.lateness.add(now - due)
            return
        # Not published on time: it goes later, marked historical.
        self.counters.lateness.add(math.inf)
        self._hold(node, reading)

    def _hold(self, node: SwarmNode, reading: Reading) -> None:
        if len(node.backlog) == node.backlog.maxlen:
            node.dropped += 1
            self.counters.dropped += 1
        node.backlog.append(reading)
        self.counters.held += 1
        self._queue(node)

    def _send(self, node: SwarmNode, session: Session, reading: Reading) -> None:
        payload = reading.model_dump_json(exclude_defaults=True).encode()
        pending = _Pending(self, node, reading)
        session.publish(node.topic, payload, on_ack=pending.acked, item=pending)
        self.counters.published += 1

    def _flush(self, session: Session) -> None:
        """Send what the session's nodes hold, marked historical, as the window allows."""
        window, waiting = self.options.window, self._waiting[session]
        while waiting and len(session.in_flight) < window:
            node = waiting[0]
            if node.dark:  # powered off: what it holds goes when it is back
                waiting.popleft()
                node.waiting = False
                continue
            while node.backlog and len(session.in_flight) < window:
                reading = node.backlog.popleft()
                if not reading.historical:
                    reading = reading.model_copy(update={"historical": True})
                self._send(node, session, reading)
            if not node.backlog:
                waiting.popleft()
                node.waiting = False

    def _acked(self, node: SwarmNode, code: int, waited_s: float) -> None:
        if code >= 0x80:
            self.counters.refused += 1
        else:
            node.acked += 1
            self.counters.acked += 1
        self.counters.ack_s.add(waited_s)
        session = node.session
        if session is not None and session.up and self._waiting[session]:
            self._flush(session)

    # -- housekeeping --------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        """Keepalive pings and seq reservations, every second or so."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for session in self.sessions:
                session.ping_if_idle(now)
            low = self._seqs.running_low()
            if low:
                await loop.run_in_executor(None, self._seqs.reserve, low)

    async def _say_goodbye(self, drain_s: float) -> None:
        """Retained ``offline`` for every node, wait for the PUBACKs a while, DISCONNECT."""
        ts = self._now()
        for session in self.sessions:
            if not session.up:
                continue
            for node in self._members[session]:
                status = NodeStatus(state=NodeState.OFFLINE, ts=ts, kind="sensor")
                session.publish(node.status_topic, status.model_dump_json().encode(), retain=True)
        give_up = time.monotonic() + drain_s
        # Polling: thousands of sessions would otherwise each need an event to wait on.
        while time.monotonic() < give_up and any(s.in_flight for s in self.sessions if s.up):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for session in self.sessions:
            session.close()
        await asyncio.sleep(0)


@dataclass(slots=True)
class _Pending:
    """A reading in flight: counted on its PUBACK, put back if its connection drops."""

    swarm: Swarm
    node: SwarmNode
    reading: Reading

    def acked(self, code: int, waited_s: float) -> None:
        self.swarm._acked(self.node, code, waited_s)
