"""The connection to the cloud broker: tracked QoS 1 publishes, Last Will, retained status."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.messages import GatewayStatus, NodeState
from envgrid_common.mqtt import BrokerAddress, connect
from envgrid_common.netloop import NetLoop, new_loop_client
from envgrid_common.outbox.publisher import NO_MATCHING_SUBSCRIBERS, Settlements
from envgrid_gateway.outbound import NO_SUBSCRIBERS, Done, Outgoing
from envgrid_gateway.settings import GatewaySettings

log = logging.getLogger("envgrid.gateway.uplink")

# Room above the local Receive Maximum for our own status messages.
_STATUS_HEADROOM = 100


def status_payload(state: NodeState, counters: dict[str, int] | None = None) -> bytes:
    """A GatewayStatus message, as JSON bytes."""
    status = GatewayStatus(state=state, ts=datetime.now(UTC), counters=counters or {})
    return status.model_dump_json().encode()


def _ignore(_: str | None) -> None:
    pass


class Uplink:
    """A :class:`~envgrid_gateway.outbound.Forwarder` that publishes straight to the cloud broker.

    paho keeps unacknowledged QoS 1 messages and resends them after a reconnect, so while the
    uplink is down messages simply wait. At most the local Receive Maximum (and room for
    status) is in flight; more can come when the local connection drops while the uplink is
    stalled (the local broker redelivers what was not acknowledged yet), and the excess
    waits here, in order, for PUBACKs. paho's own in-flight limit would do the same, but it
    scans every message in flight on each PUBACK (see
    :func:`~envgrid_common.netloop.new_loop_client`).

    Its client runs on ``loop`` (the gateway's network thread); without one it gets its own.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        counters: Callable[[], dict[str, int]] = dict,
        loop: NetLoop | None = None,
    ) -> None:
        self._settings = settings
        self._counters = counters
        self._address = BrokerAddress.parse(settings.uplink_url)
        self.status_topic = settings.uplink_topics.gateway_status(settings.gateway_id)
        self._own_loop = loop is None
        self._loop = loop or NetLoop(f"envgrid-{settings.gateway_id}-uplink")
        self._client = new_loop_client(settings.uplink_client_id, self._address, persistent=True)
        self._client.will_set(
            self.status_topic, status_payload(NodeState.OFFLINE), qos=1, retain=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._lock = threading.Lock()
        self._limit = settings.gateway_receive_maximum + _STATUS_HEADROOM
        self._waiting: Settlements[str | None] = Settlements()
        self._held: deque[tuple[Outgoing, Done]] = deque()  # beyond the limit, oldest first
        self._connected = threading.Event()
        self._stopping = False

    @property
    def connected(self) -> bool:
        """Whether the cloud broker is connected right now."""
        return self._connected.is_set()

    @property
    def outstanding(self) -> int:
        """Messages taken and not yet acknowledged by the broker (held ones included)."""
        with self._lock:
            return len(self._waiting) + len(self._held)

    def start(self) -> None:
        """Connect in the background; the loop reconnects with backoff."""
        connect(
            self._client,
            self._address,
            persistent=True,
            session_expiry_s=self._settings.gateway_session_expiry_s,
            keepalive=self._settings.gateway_keepalive_s,
        )
        self._loop.add(self._client)
        if self._own_loop:
            self._loop.start()

    def send(self, message: Outgoing, done: Done) -> None:
        """Publish at QoS 1; ``done`` fires on the broker's PUBACK (None, or why it refused).

        From any thread: on the loop's thread it publishes at once (and raises if paho
        refuses), from another it is handed to the loop; either way in the order of the calls.
        """
        self._loop.submit(partial(self._publish, message, done))

    def send_all(self, messages: list[tuple[Outgoing, Done]]) -> None:
        """:meth:`send` for each of ``messages``, in order, handed to the loop at once."""
        # One hand-over a batch: each one wakes the loop's thread, which then takes the
        # interpreter lock from the sender (the buffer's pump, a window of rows at a time).
        self._loop.submit(partial(self._publish_all, messages))

    def _publish_all(self, messages: list[tuple[Outgoing, Done]]) -> None:
        for message, done in messages:
            try:
                self._publish(message, done)
            except Exception:  # as for one sent alone: its local message stays unacknowledged
                log.exception("uplink: could not publish a message to %s", message.topic)

    def _publish(self, message: Outgoing, done: Done) -> None:
        if self._held or len(self._waiting) >= self._limit:
            with self._lock:
                self._held.append((message, done))
            return
        self._publish_now(message, done)

    def _publish_now(self, message: Outgoing, done: Done) -> None:
        mid = self._client.publish_qos1(message.topic, message.payload, message.retain)
        self._waiting.expect(mid, done)

    def publish_status(self, state: NodeState) -> None:
        """Publish the retained gateway status with the current counters."""
        payload = status_payload(state, self._counters())
        self.send(Outgoing(self.status_topic, payload, retain=True), _ignore)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until the broker has acknowledged everything; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.outstanding:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, timeout_s: float) -> None:
        """Publish the offline status, wait briefly for acknowledgements, disconnect."""
        self._stopping = True
        if self.connected:
            self.publish_status(NodeState.OFFLINE)
        if not self.wait_idle(timeout_s):
            log.warning("uplink: %d message(s) unacknowledged at stop", self.outstanding)
        if not self._loop.disconnect(self._client, timeout_s + 5):
            log.warning("uplink %s: no clean disconnect in time", self._address)
        if self._own_loop:
            self._loop.stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        if reason_code.is_failure:
            log.error("uplink %s refused the connection: %s", self._address, reason_code)
            return
        self._connected.set()
        log.info("uplink %s connected (session present: %s)", self._address, flags.session_present)
        self.publish_status(NodeState.ONLINE)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected and not self._stopping:
            log.warning(
                "uplink %s lost (%s): %d message(s) wait for the reconnect",
                self._address,
                reason_code,
                self.outstanding,
            )

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        outcome = str(reason_code) if reason_code.is_failure else None
        if reason_code.value == NO_MATCHING_SUBSCRIBERS:
            outcome = NO_SUBSCRIBERS  # accepted, delivered to nobody: the sender decides
        if not self._waiting.puback(mid, outcome):
            return  # before publish() returned: that call goes on with the held ones
        while self._held and len(self._waiting) < self._limit:
            with self._lock:
                message, held_done = self._held.popleft()
            try:
                self._publish_now(message, held_done)
            except Exception:  # left unsettled: its local message stays unacknowledged
                log.exception("uplink: could not publish a held message to %s", message.topic)
