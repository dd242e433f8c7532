"""One TCP connection of the HJ 212 listener: admission, bounds, reading paused under load."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import cast

from envgrid_gateway.adapters.hj212.hub import Hub
from envgrid_gateway.adapters.hj212.session import Session

log = logging.getLogger("envgrid.gateway.hj212")

# A device reads its answers; one that does not is not let to grow our memory.
MAX_WRITE_BUFFER = 64 * 1024
_numbers = itertools.count(1)


class Connection(asyncio.Protocol):
    """Feeds a :class:`Session`; closes on idle, a frame too slow, too many refusals."""

    def __init__(self, hub: Hub, registry: set[Connection]) -> None:
        self.hub = hub
        self._registry = registry
        self.transport: asyncio.Transport | None = None
        self.address = "?"
        self.session: Session | None = None
        self.last_received = time.monotonic()
        self._frame_started: float | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit the connection, or close it at once saying why in the log and counters."""
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.address = str(peer[0])
        refused = self.hub.admit(self.address)
        if refused is not None:
            self.hub.stats.add("hj212_connections_refused")
            log.info("HJ 212 connection from %s refused: %s", self.address, refused)
            self.transport.abort()
            return
        self.hub.stats.add("hj212_connections_accepted")
        self.session = Session(
            self.hub, f"{peer[0]}:{peer[1]}", next(_numbers), self.send, time.monotonic
        )
        self._registry.add(self)

    def data_received(self, data: bytes) -> None:
        """Frame and handle what came; pause reading while too many frames await the disk."""
        session = self.session
        if session is None or self.hub.paused:
            return  # not admitted, or stopping: unanswered, so the device sends it again
        now = time.monotonic()
        self.last_received = now
        session.feed(data)
        self._frame_started = (self._frame_started or now) if session.framer.pending else None
        if session.refused_in_a_row >= self.hub.settings.hj212_max_refused:
            self.close("too_many_refused")
            return
        self.flow()

    def flow(self) -> None:
        """Read while fewer than the bound of this listener's frames wait to be stored."""
        if self.transport is None or self.transport.is_closing() or self.session is None:
            return
        self.session.drain()
        busy = self.session.waiting > 0
        if busy and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        elif not busy and self._paused and not self.hub.paused:
            self._paused = False
            self.transport.resume_reading()

    def send(self, data: bytes) -> None:
        """Write an answer to the device."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.close("not_reading")
        self.flow()

    def tick(self, now: float) -> None:
        """Close when idle or when a frame takes too long to arrive; expire split uploads."""
        if self.session is None:
            return
        s = self.hub.settings
        self.session.tick()
        if self._frame_started is not None and now - self._frame_started > s.hj212_frame_timeout_s:
            self.close("frame_timeout")
        elif now - self.last_received > s.hj212_idle_s:
            self.close("idle")
        else:
            self.flow()

    def close(self, why: str) -> None:
        """Close (for ``why``, counted as ``hj212_closed_<why>``)."""
        if self.transport is None or self.transport.is_closing():
            return
        self.hub.stats.add(f"hj212_closed_{why}")
        log.info("HJ 212 connection %s closed: %s", self.session and self.session.peer, why)
        self._finish()
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """The peer went (or we closed): a truncated frame is kept, its nodes go offline."""
        if self.session is not None and not self.session.closed:
            self.hub.stats.add("hj212_closed_by_device")
        self._finish()

    def _finish(self) -> None:
        session = self.session
        if session is None or session.closed:
            return
        session.end()
        self.hub.liveness.gone(session.number)
        self.hub.release(self.address)
        self._registry.discard(self)
