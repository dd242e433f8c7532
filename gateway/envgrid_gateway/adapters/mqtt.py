"""The MQTT adapter: node messages from the township broker, acknowledged once safe upstream."""

from __future__ import annotations

import logging
import threading
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from envgrid_common.mqtt import BrokerAddress, connect
from envgrid_common.netloop import NetLoop, new_loop_client, readable_topic
from envgrid_gateway.acks import InOrderAcks
from envgrid_gateway.adapters import Inbound, Sink
from envgrid_gateway.settings import GatewaySettings

log = logging.getLogger("envgrid.gateway.mqtt")

# Retain-as-published keeps a retained status retained on the way up; retained messages are
# sent only for a new subscription, so a reconnect does not forward them all again.
_SUBSCRIPTION = SubscribeOptions(
    qos=1,
    retainAsPublished=True,
    retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB,
)


def _noop() -> None:
    pass


class MqttAdapter:
    """Subscribes to every node topic with a persistent session and late, in-order acks.

    Its client runs on ``loop`` (the gateway's network thread, shared with the uplink, so that
    a message and its acknowledgements never change threads); without one it gets its own.
    """

    name = "mqtt"

    def __init__(self, settings: GatewaySettings, loop: NetLoop | None = None) -> None:
        self._settings = settings
        self._address = BrokerAddress.parse(settings.mqtt_url)
        self._filter = settings.topics.all_nodes()
        self._own_loop = loop is None
        self._loop = loop or NetLoop(f"envgrid-{settings.gateway_id}-local")
        self._client = new_loop_client(
            settings.local_client_id, self._address, manual_ack=True, persistent=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._acks = InOrderAcks(self._send_ack)
        self._sink: Sink | None = None
        self._ready = threading.Event()
        self._paused = False
        self._stopping = False
        self._errors = 0
        self._window_warned = False

    @property
    def ready(self) -> bool:
        """Connected and subscribed."""
        return self._ready.is_set()

    def start(self, sink: Sink) -> None:
        """Connect in the background (the loop reconnects with backoff) and feed ``sink``."""
        self._sink = sink
        connect(
            self._client,
            self._address,
            persistent=True,
            session_expiry_s=self._settings.gateway_session_expiry_s,
            receive_maximum=self._settings.gateway_receive_maximum,
            keepalive=self._settings.gateway_keepalive_s,
        )
        # The loop stops reading while a Receive Maximum of messages wait for the uplink (TCP
        # then holds the broker back): MQTT 3.1.1 has no Receive Maximum, and Mosquitto 2.0
        # does not keep to ours once acknowledgements flow (tests/integration/test_broker_traps.py).
        self._loop.add(self._client, self._window_open)
        if self._own_loop:
            self._loop.start()

    def pause(self) -> None:
        """Hand nothing more on; what arrives now stays unacked and is redelivered next time."""
        self._paused = True

    def stop(self) -> None:
        """Disconnect after the acks already due (they are sent first, in order)."""
        self._stopping = True
        self._paused = True
        if not self._loop.disconnect(self._client, self._settings.gateway_drain_timeout_s + 5):
            log.warning("local broker %s: no clean disconnect in time", self._address)
        if self._own_loop:
            self._loop.stop()

    def counters(self) -> dict[str, int]:
        """Connection state and messages not yet acknowledged to the local broker."""
        return {
            "local_connected": int(self.ready),
            "local_unacked": self._acks.pending,
            "adapter_errors": self._errors,
        }

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        if reason_code.is_failure:
            log.error("local broker %s refused the connection: %s", self._address, reason_code)
            return
        self._acks.reset()
        log.info(
            "local broker %s connected (session present: %s)", self._address, flags.session_present
        )
        # Subscribe even with a session present: the broker may have lost it.
        if self._address.v5:
            client.subscribe(self._filter, options=_SUBSCRIPTION)
        else:
            client.subscribe(self._filter, qos=1)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Any,
    ) -> None:
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            log.error("local broker refused the subscription to %s: %s", self._filter, failed)
            return
        self._ready.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        dropped = self._acks.reset()
        if not self._stopping and was_ready:
            log.warning(
                "local broker %s lost (%s): %d unacked message(s) will be redelivered",
                self._address,
                reason_code,
                dropped,
            )

    def _send_ack(self, mid: int) -> None:
        # Called by InOrderAcks under its lock, in order; submit() keeps that order when a
        # message is settled on another thread than the loop's. On the loop's thread (the
        # buffer settles its batches there) ack at once: submit() would first run what is
        # queued, which may settle more messages and so take InOrderAcks' lock again.
        if self._loop.on_thread():
            self._client.ack(mid, 1)
        else:
            self._loop.submit(partial(self._client.ack, mid, 1))

    def _window_open(self) -> bool:
        """Whether fewer than ``receive_maximum`` messages wait for the uplink.

        Without this bound the uplink's outstanding publishes could grow past what paho can
        number; while it is reached the local connection is not read.
        """
        if self._acks.pending < self._settings.gateway_receive_maximum:
            return True
        if not self._window_warned:
            self._window_warned = True
            log.info(  # flow control at work, not a fault: the broker keeps the rest
                "%d messages wait for the uplink; holding the local broker",
                self._settings.gateway_receive_maximum,
            )
        return False

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._paused or self._sink is None:
            return
        if message.qos == 0:
            ack = _noop  # a node that publishes at QoS 0 gets no guarantee to keep
        else:
            ack = partial(self._acks.complete, self._acks.received(message.mid))
        topic = readable_topic(message)
        payload = bytes(message.payload)  # already bytes: no copy
        inbound = Inbound(topic, payload, bool(message.retain), ack, bool(message.dup))
        try:
            self._sink(inbound)
        except Exception:
            # A bug, not bad data (the bridge dead-letters that): leave it unacked so that
            # nothing is lost, and make it visible.
            self._errors += 1
            log.exception("could not handle a message on %s; left unacknowledged", topic)
