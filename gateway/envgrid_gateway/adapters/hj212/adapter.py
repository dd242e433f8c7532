"""The HJ 212 adapter: an asyncio TCP server on a thread of its own, feeding the bridge."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from envgrid_gateway.adapters import Sink
from envgrid_gateway.adapters.hj212.connection import Connection
from envgrid_gateway.adapters.hj212.devices import DeviceTable
from envgrid_gateway.adapters.hj212.hub import Hub
from envgrid_gateway.settings import GatewaySettings

log = logging.getLogger("envgrid.gateway.hj212")

_TICK_S = 0.5  # how often idle connections, slow frames and split uploads are looked at
_MIN_BACKLOG = 128  # connections the kernel queues for accept(), at least


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:5520`` for IPv6) → (host, port); ValueError if it is not one."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"ENVGRID_HJ212_LISTEN={text!r}: expected HOST:PORT, e.g. 0.0.0.0:5520")
    return host.strip("[]") or "0.0.0.0", int(port)


class Hj212Adapter:
    """Listens on ``settings.hj212_listen`` for data-acquisition units (数采仪); see docs/hj212.md.

    Every connection runs on one event loop thread; a frame's reading goes to the bridge
    (validate → disk buffer → uplink) and the device's answer is written only once the
    buffer has stored it.
    """

    name = "hj212"

    def __init__(self, settings: GatewaySettings, devices: DeviceTable | None = None) -> None:
        if not settings.hj212_listen:
            raise ValueError("the HJ 212 listener needs ENVGRID_HJ212_LISTEN")
        self._settings = settings
        self._bind = parse_listen(settings.hj212_listen)
        self.devices = devices if devices is not None else DeviceTable.load(settings.hj212_devices)
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._hub: Hub | None = None
        self._server: asyncio.Server | None = None
        self._ticker_task: asyncio.Task[None] | None = None
        self._connections: set[Connection] = set()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self.address: tuple[str, int] | None = None  # where it listens, once started

    @property
    def ready(self) -> bool:
        """Listening."""
        return self._ready.is_set()

    def start(self, sink: Sink) -> None:
        """Bind and serve on a thread of its own; raises if the address cannot be bound."""
        self._hub = Hub(self._settings, self.devices, sink, self._loop)
        self._hub.on_room = self._flow_all
        self._thread = threading.Thread(target=self._run, name="gateway-hj212", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._failed is not None or self.address is None:
            self._ready.clear()
            raise RuntimeError(f"HJ 212 listener on {self._settings.hj212_listen}: {self._failed}")
        host, port = self.address
        log.info("HJ 212 listener on %s:%d, %d device(s) known", host, port, len(self.devices))

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as error:  # reported by start()
            self._failed = error
            self._ready.set()
            return
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    async def _serve(self) -> None:
        hub = self._hub
        assert hub is not None
        host, port = self._bind
        self._server = await self._loop.create_server(
            lambda: Connection(hub, self._connections),
            host,
            port,
            reuse_address=True,
            # asyncio's default of 100 lets a township's units, reconnecting together after
            # an outage, overflow the accept queue: the kernel drops their handshakes and they
            # wait 1, 3, 7 s for SYN retries (some got a reset). The kernel caps it at somaxconn.
            backlog=max(_MIN_BACKLOG, self._settings.hj212_max_connections),
        )
        bound = self._server.sockets[0].getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        self._ticker_task = self._loop.create_task(self._ticker())
        self._ready.set()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(_TICK_S)
            now = time.monotonic()
            for connection in list(self._connections):
                connection.tick(now)
            if self._hub is not None:
                self._hub.check_stall()

    def _flow_all(self) -> None:
        for connection in list(self._connections):
            connection.flow()

    def pause(self) -> None:
        """Take no more frames (they stay unanswered; devices send them again)."""
        if self._hub is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._pause)

    def _pause(self) -> None:
        assert self._hub is not None
        self._hub.paused = True
        for connection in list(self._connections):
            if connection.transport is not None and not connection.transport.is_closing():
                connection.transport.pause_reading()

    def stop(self) -> None:
        """Write the answers already due, close every connection (nodes offline), stop."""
        thread, hub = self._thread, self._hub
        if thread is None or hub is None or not thread.is_alive():
            return
        self.pause()
        deadline = time.monotonic() + self._settings.gateway_drain_timeout_s
        while hub.unanswered and time.monotonic() < deadline:
            time.sleep(0.02)
        done = threading.Event()

        def close_all() -> None:
            if self._server is not None:
                self._server.close()
            if self._ticker_task is not None:
                self._ticker_task.cancel()
            for connection in list(self._connections):
                connection.close("gateway_stopping")
            self._loop.call_later(0.1, self._loop.stop)  # the transports' last writes
            done.set()

        self._loop.call_soon_threadsafe(close_all)
        done.wait(5)
        thread.join(5)

    def counters(self) -> dict[str, int]:
        """Connections, frames, refusals, pending MNs, nodes online (``hj212_*``)."""
        hub = self._hub
        return {"hj212_listening": int(self.ready)} | (hub.counters() if hub else {})
