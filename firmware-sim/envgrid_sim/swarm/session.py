"""One MQTT connection of a swarm, as an asyncio protocol: a node's own, or shared by many."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from envgrid_sim.swarm import wire


@dataclass(slots=True)
class InFlight:
    """A PUBLISH awaiting its PUBACK; ``on_ack`` gets the reason code and the wait, ``item``
    is what the caller sent (handed back if the connection drops first)."""

    sent_at: float
    on_ack: Callable[[int, float], None] | None
    item: object = None


class Session(asyncio.Protocol):
    """A connection that publishes at QoS 1 and nothing else.

    ``on_up`` runs on CONNACK, ``on_down`` when the connection is gone (with what was still
    in flight, so the caller can send it again on the next connection).
    """

    def __init__(
        self,
        client_id: str,
        *,
        v5: bool,
        keepalive_s: int,
        will: wire.Will | None,
        username: str | None = None,
        password: str | None = None,
        on_up: Callable[[Session], None] = lambda s: None,
        on_down: Callable[[Session, list[InFlight]], None] = lambda s, f: None,
    ) -> None:
        self.client_id = client_id
        self.v5 = v5
        self.keepalive_s = keepalive_s
        self.will = will
        self._login = (username, password)
        self._on_up = on_up
        self._on_down = on_down
        self.transport: asyncio.Transport | None = None
        self.up = False
        self.in_flight: dict[int, InFlight] = {}
        self.last_sent = 0.0
        self.refused = 0
        self._mid = 0
        self._split = wire.Splitter()
        self._connack: asyncio.Future[int] | None = None

    async def open(self, host: str, port: int, timeout_s: float) -> None:
        """Connect and wait for the CONNACK; raise OSError/TimeoutError/ConnectionError."""
        loop = asyncio.get_running_loop()
        self._connack = loop.create_future()
        self._split = wire.Splitter()
        async with asyncio.timeout(timeout_s):
            await loop.create_connection(lambda: self, host, port)
            code = await self._connack
        if code != 0:
            self.abort()
            raise ConnectionError(f"{self.client_id}: broker refused the connection ({code:#x})")
        self.up = True
        self._on_up(self)

    # asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        username, password = self._login
        self._write(
            wire.connect_packet(
                self.client_id,
                v5=self.v5,
                keepalive_s=self.keepalive_s,
                will=self.will,
                username=username,
                password=password,
            )
        )

    def data_received(self, data: bytes) -> None:
        try:
            packets = self._split.feed(data)
        except ValueError:
            self.abort()
            return
        for kind, body in packets:
            if kind == wire.PUBACK:
                mid, code = wire.puback_of(body)
                sent = self.in_flight.pop(mid, None)
                if sent is not None and sent.on_ack is not None:
                    sent.on_ack(code, time.monotonic() - sent.sent_at)
                if code >= 0x80:
                    self.refused += 1
            elif kind == wire.CONNACK:
                if self._connack is not None and not self._connack.done():
                    self._connack.set_result(wire.connack_code(body))
            elif kind == wire.DISCONNECT:
                self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        was_up, self.up = self.up, False
        self.transport = None
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(ConnectionError(f"{self.client_id}: connection lost"))
        lost = list(self.in_flight.values())
        self.in_flight.clear()
        if was_up:
            self._on_down(self, lost)

    # publishing ------------------------------------------------------------------------------
    def publish(
        self,
        topic: bytes,
        payload: bytes,
        *,
        retain: bool = False,
        on_ack: Callable[[int, float], None] | None = None,
        item: object = None,
    ) -> None:
        """Send at QoS 1 now (the caller checks :attr:`up` first)."""
        mid = self._mid = self._mid % 65535 + 1
        while mid in self.in_flight:  # 65,535 in flight would be a broker long gone
            mid = self._mid = self._mid % 65535 + 1
        self.in_flight[mid] = InFlight(time.monotonic(), on_ack, item)
        self._write(wire.publish_packet(topic, payload, mid, v5=self.v5, retain=retain))

    def ping_if_idle(self, now: float) -> None:
        """PINGREQ when nothing was sent for most of the keepalive (any packet counts)."""
        if self.up and now - self.last_sent > self.keepalive_s * 0.6:
            self._write(wire.PINGREQ_PACKET)

    def oldest_in_flight_s(self, now: float) -> float:
        """How long the oldest unacknowledged PUBLISH has waited (0 if none)."""
        first = next(iter(self.in_flight.values()), None)
        return 0.0 if first is None else now - first.sent_at

    def close(self) -> None:
        """DISCONNECT (the broker drops the Will), then close."""
        if self.transport is not None:
            self._write(wire.disconnect_packet(v5=self.v5))
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a power cut would: the Will goes out."""
        if self.transport is not None:
            self.transport.abort()

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)
            self.last_sent = time.monotonic()
