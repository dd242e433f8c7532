"""The virtual 数采仪: uploads on schedule into its backlog, sends over TCP, waits for 9014.

Two tasks, as on a real unit: the producer turns the schedule into uploads whether or not the
platform is reachable; the link connects (with back-off), sends what is due, answers nothing
it need not, and matches 9014 answers by QN. What is not answered is sent again later, so a
backlog made during an outage reaches the platform late, oldest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from envgrid_common.hj212 import (
    Edition,
    Frame,
    FrameError,
    StreamFramer,
    execution_result,
    parse_frame,
    request_answer,
)
from envgrid_sim.hj212.backlog import Backlog
from envgrid_sim.hj212.compose import Identity, QnStamps, liveness, upload
from envgrid_sim.hj212.readings import StationValues
from envgrid_sim.hj212.schedule import Schedule, StationClock
from envgrid_sim.node import Backoff

log = logging.getLogger("envgrid.sim.hj212")

DATA_ANSWER = "9014"
_READ_CHUNK = 4096
# Host requests (1000-3999) a unit acknowledges with 9011 and reports on with 9012 (§6.5).
_REQUEST_RANGE = range(1000, 4000)


@dataclass(slots=True)
class StationCounters:
    """What a station has done so far."""

    uploads: int = 0  # uploads made (each one or more packets)
    packets_sent: int = 0  # packets written, first sends and resends
    resent: int = 0  # uploads sent again (no answer in time, or after a reconnect)
    answered: int = 0  # uploads confirmed by a 9014
    heartbeats: int = 0
    requests: int = 0  # host requests answered with 9011 + 9012
    refused: int = 0  # frames from the host that did not parse
    connects: int = 0
    connected: bool = False
    outages: int = 0  # times it went dark (go_dark)
    cns: dict[str, int] = field(default_factory=dict)  # uploads made, by command


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """Where and how the station connects."""

    host: str
    port: int
    connect_timeout_s: float = 10.0
    backoff_first_s: float = 0.5
    backoff_most_s: float = 30.0
    heartbeat_s: float = 60.0


class VirtualStation:
    """One 数采仪 at an enterprise's discharge point, connected to a platform as a TCP client."""

    def __init__(
        self,
        identity: Identity,
        values: StationValues,
        schedule: Schedule,
        clock: StationClock,
        link: LinkOptions,
        backlog: Backlog | None = None,
    ) -> None:
        self.identity = identity
        self.values = values
        self.schedule = schedule
        self.clock = clock
        self.link = link
        self.backlog = backlog if backlog is not None else Backlog()
        self.counters = StationCounters()
        self._qns = QnStamps()
        self._work = asyncio.Event()  # the producer made an upload, or an answer came
        self._cut = asyncio.Event()  # go_dark: drop the connection now
        self._dark_until: float | None = None  # monotonic seconds the link stays down until

    def go_dark(self, for_s: float) -> None:
        """The unit's link goes down for ``for_s`` seconds: its connection drops without a word
        and it does not reconnect until then. It keeps measuring: what it makes meanwhile waits
        in its backlog and goes up when the link is back (补传), oldest first."""
        self._dark_until = time.monotonic() + for_s
        self.counters.outages += 1
        self._cut.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Produce and send until ``stop`` is set."""
        producer = asyncio.create_task(self._produce(stop), name=f"{self.identity.mn}-produce")
        try:
            await self._keep_linked(stop)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    async def _produce(self, stop: asyncio.Event) -> None:
        modern = self.identity.edition is not Edition.HJT212_2005
        while not stop.is_set():
            wait = self.clock.real_seconds(self.schedule.next_at())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
                return
            now = self.clock.now()
            for due in self.schedule.take(now):
                if due.window is None:
                    factors = self.values.realtime(due.data_time, modern=modern)
                else:
                    factors = self.values.window(due.data_time, due.window, modern=modern)
                qn = self._qns.take(now)
                self.backlog.add(upload(self.identity, due.cn, due.data_time, factors, qn))
                self.counters.uploads += 1
                self.counters.cns[due.cn] = self.counters.cns.get(due.cn, 0) + 1
            self._work.set()

    async def _keep_linked(self, stop: asyncio.Event) -> None:
        backoff = Backoff(self.link.backoff_first_s, self.link.backoff_most_s)
        while not stop.is_set():
            if self._dark_until is not None:
                await self._stay_dark(stop)
                continue
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.link.host, self.link.port),
                    timeout=self.link.connect_timeout_s,
                )
            except (OSError, TimeoutError) as error:
                log.debug("station %s: connect failed: %s", self.identity.mn, error)
            else:
                backoff.reset()
                self.counters.connects += 1
                self.counters.connected = True
                try:
                    await self._session(reader, writer, stop)
                finally:
                    self.counters.connected = False
                    writer.close()
                    with contextlib.suppress(OSError, ConnectionError):
                        await writer.wait_closed()
            if stop.is_set():
                return
            if self._dark_until is not None:
                continue  # cut on purpose: wait in the dark, not for the back-off
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff.delay())

    async def _stay_dark(self, stop: asyncio.Event) -> None:
        """Wait until the link is back (a later go_dark extends it) or ``stop``."""
        while self._dark_until is not None and not stop.is_set():
            left = self._dark_until - time.monotonic()
            if left <= 0:
                self._dark_until = None
                self._cut.clear()
                log.info("station %s: link back after going dark", self.identity.mn)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=left)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event
    ) -> None:
        self.backlog.reconnected()
        cut = asyncio.create_task(self._cut.wait())
        tasks = [
            asyncio.create_task(self._receive(reader, writer)),
            asyncio.create_task(self._send(writer)),
            asyncio.create_task(stop.wait()),
            cut,
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if cut in done:
                # Power or link gone: no goodbye, the socket just drops.
                writer.transport.abort()
                log.info("station %s: gone dark, connection dropped", self.identity.mn)
            for task in done:
                error = task.exception()
                if error is not None and not isinstance(error, OSError | ConnectionError):
                    raise error
                if error is not None:
                    log.info("station %s: link lost: %s", self.identity.mn, error)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send(self, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while True:
            now = loop.time()
            for item in self.backlog.due(now):
                if item.attempts:
                    self.counters.resent += 1
                for packet in item.packets:
                    writer.write(packet)
                    self.counters.packets_sent += 1
                await writer.drain()
                self.backlog.sent(item, loop.time())
                last_sent = loop.time()
            if loop.time() - last_sent >= self.link.heartbeat_s:
                writer.write(liveness(self.identity, self.clock.now()))
                await writer.drain()
                self.counters.heartbeats += 1
                last_sent = loop.time()
            wake = last_sent + self.link.heartbeat_s
            upcoming = self.backlog.next_due()
            if upcoming is not None:
                wake = min(wake, upcoming)
            self._work.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), timeout=max(0.0, wake - loop.time()))

    async def _receive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = StreamFramer()
        while True:
            data = await reader.read(_READ_CHUNK)
            if not data:
                return
            for item in framer.feed(data):
                if isinstance(item, FrameError):
                    self.counters.refused += 1
                    continue
                try:
                    frame = parse_frame(item)
                except FrameError as error:
                    self.counters.refused += 1
                    log.info("station %s: host frame refused: %s", self.identity.mn, error)
                    continue
                await self._on_frame(frame, writer)

    async def _on_frame(self, frame: Frame, writer: asyncio.StreamWriter) -> None:
        if frame.cn == DATA_ANSWER:
            # 2017/2025 answers carry the QN in the header; 2005-era ones in CP.
            qn = frame.qn or frame.cp.fields.get("QN")
            if qn is not None and self.backlog.answered(qn) is not None:
                self.counters.answered += 1
                self._work.set()
            return
        if frame.cn.isdigit() and int(frame.cn) in _REQUEST_RANGE and frame.mn == self.identity.mn:
            # A host request: ready (9011), then done (9012); the unit runs no real command.
            crc = self.identity.crc
            writer.write(request_answer(frame, crc=crc) + execution_result(frame, crc=crc))
            await writer.drain()
            self.counters.requests += 1
