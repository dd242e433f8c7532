"""The gateway as one object: adapters → bridge → uplink, plus status and summaries."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from envgrid_common.messages import NodeState
from envgrid_common.netloop import NetLoop
from envgrid_gateway.adapters import Adapter
from envgrid_gateway.adapters.hj212 import Hj212Adapter
from envgrid_gateway.adapters.mqtt import MqttAdapter
from envgrid_gateway.bridge import Bridge
from envgrid_gateway.buffer import Buffer
from envgrid_gateway.settings import GatewaySettings
from envgrid_gateway.stats import QuietLog, Stats
from envgrid_gateway.uplink import Uplink

log = logging.getLogger("envgrid.gateway")


class Gateway:
    """One township gateway; ``start()``, ``stop()``, and ``stats`` while it runs.

    The uplink and the MQTT adapter share one network thread (:attr:`loop`). A message is
    received and validated there, stored by the :attr:`buffer` (and only then acknowledged
    locally), and sent on by the buffer's pump to the uplink, which deletes it from disk once
    the cloud broker has it.
    """

    def __init__(
        self, settings: GatewaySettings | None = None, adapters: Sequence[Adapter] | None = None
    ) -> None:
        self.settings = settings or GatewaySettings()
        self.settings.check_no_loop()
        self._stats = Stats()
        # A short longest backoff: after an outage the backlog goes as soon as the broker is
        # back, and one connection attempt every few seconds costs a down broker nothing.
        self.loop = NetLoop(
            f"envgrid-gateway-{self.settings.gateway_id}",
            max_delay_s=self.settings.gateway_reconnect_max_s,
        )
        self.uplink = Uplink(self.settings, self._counters, self.loop)
        self.buffer = Buffer.from_settings(self.settings, self.uplink, self._stats)
        self.buffer.batch_on(self.loop)  # the MQTT adapter's messages arrive on the loop
        self.bridge = Bridge(
            self.settings.gateway_id,
            self.settings.topics,
            self.settings.uplink_topics,
            self.buffer,
            self._stats,
            QuietLog(logging.getLogger("envgrid.gateway.deadletter")),
        )
        self.adapters: list[Adapter] = list(adapters or self._default_adapters())
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _default_adapters(self) -> list[Adapter]:
        adapters: list[Adapter] = [MqttAdapter(self.settings, self.loop)]
        if self.settings.hj212_listen:
            adapters.append(Hj212Adapter(self.settings))
        return adapters

    @property
    def stats(self) -> dict[str, int]:
        """Counters: received, forwarded, dead_lettered, rejected_<class>, pending, …"""
        return self._counters()

    @property
    def ready(self) -> bool:
        """The uplink is connected and every adapter is receiving."""
        return self.uplink.connected and all(a.ready for a in self.adapters)

    def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """Block until :attr:`ready`; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not self.ready:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def start(self) -> Gateway:
        """Connect both sides in the background and begin forwarding."""
        s = self.settings
        log.info(
            "gateway %s: %s %s → %s %s",
            s.gateway_id,
            s.mqtt_url,
            s.topics.all_nodes(),
            s.uplink_url,
            s.uplink_topics.base,
        )
        self.uplink.start()
        self.buffer.start()
        for adapter in self.adapters:
            adapter.start(self.bridge)
        self.loop.start()
        self._ticker = threading.Thread(target=self._tick, name="gateway-status", daemon=True)
        self._ticker.start()
        return self

    def stop(self, drain_timeout_s: float | None = None) -> None:
        """Stop taking messages, let the uplink acknowledge what it has, publish offline."""
        timeout = (
            self.settings.gateway_drain_timeout_s if drain_timeout_s is None else drain_timeout_s
        )
        for adapter in self.adapters:
            adapter.pause()
        if not self.buffer.flush(timeout):
            log.warning("stopping with received messages not yet stored")
        # Acks for what the buffer stored are queued by now; disconnect sends them first.
        for adapter in self.adapters:
            adapter.stop()
        if self.uplink.connected and not self.buffer.drain(timeout):
            log.warning("stopping with %d message(s) stored, not yet sent", len(self.buffer.outbox))
        self.buffer.close(timeout)
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self.uplink.stop(timeout)
        self.loop.stop()
        self._summary(final=True)

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _counters(self) -> dict[str, int]:
        counters = {"received": 0, "forwarded": 0, "dead_lettered": 0, "pending": 0}
        counters.update(self._stats.snapshot())
        counters["uplink_connected"] = int(self.uplink.connected)
        counters["uplink_outstanding"] = self.uplink.outstanding
        counters.update(self.buffer.counters())
        for adapter in self.adapters:
            counters.update(adapter.counters())
        return counters

    def _tick(self) -> None:
        s = self.settings
        next_status = time.monotonic() + s.gateway_status_interval_s
        next_summary = time.monotonic() + s.gateway_summary_interval_s
        while not self._stop.wait(min(1.0, s.gateway_status_interval_s)):
            now = time.monotonic()
            self.bridge.dead_letter_log.flush()
            if now >= next_status:
                next_status = now + s.gateway_status_interval_s
                # While the uplink is down, stale statuses would only pile up in paho's queue;
                # a fresh one goes out on every reconnect anyway.
                if self.uplink.connected:
                    self.uplink.publish_status(NodeState.ONLINE)
            if now >= next_summary:
                next_summary = now + s.gateway_summary_interval_s
                self._summary()

    def _summary(self, final: bool = False) -> None:
        c = self._counters()
        rejected = {
            k.removeprefix("rejected_"): v for k, v in c.items() if k.startswith("rejected_")
        }
        uplink = "closed" if final else "connected" if c["uplink_connected"] else "DOWN"
        log.info(
            "%sreceived %d, forwarded %d, dead-lettered %d%s, pending %d, local unacked %d, "
            "uplink %s",
            "stopped: " if final else "",
            c["received"],
            c["forwarded"],
            c["dead_lettered"],
            f" {rejected}" if rejected else "",
            c["pending"],
            c.get("local_unacked", 0),
            uplink,
        )
