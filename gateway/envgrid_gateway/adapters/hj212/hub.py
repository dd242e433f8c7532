"""What every HJ 212 connection shares: the device table, the bridge, counters, liveness."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable

from envgrid_common.clock import utc_now
from envgrid_common.messages import NodeState, NodeStatus, Reading
from envgrid_common.topics import Topics
from envgrid_gateway.adapters import Inbound, Sink
from envgrid_gateway.adapters.hj212.devices import DeviceTable
from envgrid_gateway.adapters.hj212.liveness import Liveness
from envgrid_gateway.adapters.hj212.pending import PendingMns
from envgrid_gateway.adapters.hj212.stall import StallWatch
from envgrid_gateway.settings import GatewaySettings
from envgrid_gateway.stats import Stats

log = logging.getLogger("envgrid.gateway.hj212")

DEAD_LETTER_PREFIX = "HJ 212 "
"""Every reason the listener dead-letters with starts so (the gateway counts them by code)."""


def _nothing() -> None:
    pass


class Hub:
    """State of the listener, used on its event loop's thread (counters from any thread)."""

    def __init__(
        self,
        settings: GatewaySettings,
        devices: DeviceTable,
        sink: Sink,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.settings = settings
        self.devices = devices
        self.topics: Topics = settings.topics
        self._sink = sink
        self._loop = loop
        self.stats = Stats()
        self.pending = PendingMns()
        self.liveness = Liveness(self._publish_status)
        self.per_address: Counter[str] = Counter()
        self.connections = 0
        self.unanswered = 0  # handed to the bridge, not yet stored
        self.stall = StallWatch(settings.hj212_stall_s)
        self.paused = False
        self.on_room: Callable[[], None] = _nothing

    def admit(self, address: str) -> str | None:
        """Take a new connection from ``address``, or say why not."""
        s = self.settings
        if self.paused:
            return "the gateway is stopping"
        if self.connections >= s.hj212_max_connections:
            return f"{self.connections} connections open (ENVGRID_HJ212_MAX_CONNECTIONS)"
        if self.per_address[address] >= s.hj212_max_per_address:
            return f"{self.per_address[address]} connections from {address} (…_MAX_PER_ADDRESS)"
        self.connections += 1
        self.per_address[address] += 1
        return None

    def release(self, address: str) -> None:
        """A connection admitted from ``address`` closed."""
        self.connections -= 1
        self.per_address[address] -= 1
        if self.per_address[address] <= 0:
            del self.per_address[address]

    def on_loop(self, callback: Callable[[], None]) -> Callable[[], None]:
        """``callback`` as an ack the bridge may call from any thread: it runs on our loop."""

        def ack() -> None:
            # A closed loop: the device gets no answer and sends the frame again.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(callback)

        return ack

    def forward_reading(self, node_id: str, reading: Reading, stored: Callable[[], None]) -> bool:
        """Hand a reading to the bridge; ``stored`` runs on our loop once it is on disk."""
        payload = reading.model_dump_json(exclude_defaults=True).encode()
        topic = self.topics.readings(node_id)
        return self._hand(Inbound(topic, payload, False, self._acked(stored)))

    def dead_letter(
        self, where: str, raw: bytes, reason: str, stored: Callable[[], None] = _nothing
    ) -> bool:
        """Dead-letter ``raw`` with ``reason`` (the gateway's store and API for refusals)."""
        self.stats.add("hj212_dead_lettered")
        topic = f"hj212://{where}"
        reason = DEAD_LETTER_PREFIX + reason
        inbound = Inbound(topic, raw, False, self._acked(stored), refused=reason)
        return self._hand(inbound)

    def _acked(self, stored: Callable[[], None]) -> Callable[[], None]:
        self.unanswered += 1
        self.stall.handed()

        def settled() -> None:
            self.unanswered -= 1
            lasted = self.stall.stored()
            if lasted is not None:
                log.warning("HJ 212: frames are stored again after a stall of %.0f s", lasted)
            stored()
            if self.unanswered == self.settings.hj212_max_unanswered - 1:
                self.on_room()  # connections paused at the bound may read again

        return self.on_loop(settled)

    def check_stall(self) -> None:
        """Say so (once a stall) when frames have waited too long with none stored."""
        stalled = self.stall.check()
        if stalled is not None:
            log.warning(
                "HJ 212: %d frame(s) wait for the disk buffer and none was stored for %.0f s "
                "(ENVGRID_HJ212_STALL_S); their devices get no answers meanwhile",
                self.unanswered,
                stalled,
            )

    def _hand(self, inbound: Inbound) -> bool:
        try:
            self._sink(inbound)
        except Exception:
            # A bug, not bad data: the frame stays unanswered, so the device sends it again.
            self.stats.add("hj212_errors")
            log.exception("could not hand on %s", inbound.topic)
            return False
        return True

    def _publish_status(self, node_id: str, state: NodeState) -> None:
        status = NodeStatus(state=state, ts=utc_now(), kind="sensor")
        payload = status.model_dump_json(exclude_none=True).encode()
        self.stats.add(f"hj212_{state.value}")
        self._hand(Inbound(self.topics.status(node_id), payload, True, _nothing))

    def counters(self) -> dict[str, int]:
        """The listener's part of the gateway status."""
        out = {
            "hj212_connections": self.connections,
            "hj212_nodes_online": self.liveness.online,
            "hj212_unanswered": self.unanswered,
            "hj212_unanswered_stalled_s": round(self.stall.stalled_s()),
            "hj212_stalls": self.stall.stalls,
        }
        out.update(self.stats.snapshot())
        out.update(self.pending.counters())
        return out
