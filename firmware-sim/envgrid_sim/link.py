"""One virtual node's MQTT connection: its Last Will, a publisher for the pump, a plug to pull."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.messages import NodeState, NodeStatus
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.outbox import Puback, Settle, Settlements
from envgrid_common.topics import Topics


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Where and how the nodes of one simulator connect."""

    address: BrokerAddress
    topics: Topics
    client_id_prefix: str = ""
    keepalive_s: int = 30
    publish_timeout_s: float = 10.0
    window: int = 20  # QoS 1 messages in flight per node


def offline_will(topics: Topics, node_id: str) -> aiomqtt.Will:
    """The retained ``offline`` status the broker publishes if the node vanishes.

    It carries no ``ts``: it is set at connect time, and that is not when the node went away.
    """
    payload = NodeStatus(state=NodeState.OFFLINE, kind="sensor").model_dump_json(exclude_none=True)
    return aiomqtt.Will(topics.status(node_id), payload, qos=1, retain=True)


class NodeClient(aiomqtt.Client):
    """An aiomqtt client that publishes for the pump (see :attr:`publisher`).

    :meth:`send` hands a message to paho without waiting and settles it on its PUBACK,
    with the reason code; ``on_event`` is called on every PUBACK and on a lost connection,
    so one task can keep a window of messages in flight (aiomqtt's own publish waits for
    each acknowledgement and ignores failure codes).
    """

    def __init__(
        self, node_id: str, config: LinkConfig, on_event: Callable[[], None] = lambda: None
    ) -> None:
        address = config.address
        super().__init__(
            address.host,
            address.port,
            username=address.username,
            password=address.password,
            identifier=f"{config.client_id_prefix}{node_id}",
            # MQTT 3.1.1 brokers (the demo's pip broker) get no PUBACK reason codes to check.
            protocol=aiomqtt.ProtocolVersion.V5 if address.v5 else aiomqtt.ProtocolVersion.V311,
            will=offline_will(config.topics, node_id),
            keepalive=config.keepalive_s,
            timeout=config.publish_timeout_s,
            clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            max_inflight_messages=config.window,
        )
        self._settlements: Settlements[Puback] = Settlements()
        self._on_event = on_event

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        self._settlements.puback(mid, Puback.of(reason_code))
        self._on_event()
        super()._on_publish(client, userdata, mid, reason_code, properties)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        super()._on_disconnect(client, userdata, flags, reason_code, properties)
        self._on_event()

    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # aiomqtt adds the writer later, on the loop; a plug pulled in between has closed the
        # socket by then, and asyncio logs EBADF with a traceback: skip a socket gone.
        def write() -> None:
            try:
                client.loop_write()
            except Exception as error:  # as aiomqtt: a broken connection ends the client
                if not self._disconnected.done():
                    self._disconnected.set_exception(error)

        def register() -> None:
            current = client.socket()
            if current is not None and current is sock:
                self._loop.add_writer(current.fileno(), write)

        self._loop.call_soon_threadsafe(register)

    @property
    def lost(self) -> bool:
        """Whether the connection has gone (the broker went away or the plug was pulled)."""
        return self._disconnected.done() or not self._client.is_connected()

    @property
    def publisher(self) -> NodePublisher:
        """This client as the pump's :class:`~envgrid_common.outbox.Publisher`."""
        return NodePublisher(self)

    def send(self, topic: str, payload: bytes, retain: bool, settle: Settle) -> None:
        """Hand a QoS 1 message to paho and settle it on its PUBACK (raise if it cannot go).

        Unlike paho, a message is not queued while disconnected: the outbox holds it, and
        the next connection is a new client that would not have it.
        """
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, f"cannot publish to {topic}")
        self._settlements.expect(info.mid, settle)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            # aiomqtt leaves a lost connection's error in a future nobody reads, and asyncio
            # then logs "Future exception was never retrieved"; we have already reported it.
            lost = self._disconnected
            if lost.done() and not lost.cancelled():
                lost.exception()

    def pull_plug(self) -> None:
        """Drop the connection without DISCONNECT, as a power cut would: the Will goes out."""
        sock = self._client.socket()
        if isinstance(sock, socket.socket):
            # An OSError means it is already gone: nothing left to cut.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class NodePublisher:
    """A :class:`NodeClient` as a :class:`~envgrid_common.outbox.Publisher`."""

    def __init__(self, client: NodeClient) -> None:
        self._client = client

    @property
    def connected(self) -> bool:
        """Whether the connection is up."""
        return not self._client.lost

    def publish(self, topic: str, payload: bytes, retain: bool, settle: Settle) -> None:
        """Publish at QoS 1; ``settle`` on the PUBACK."""
        self._client.send(topic, payload, retain, settle)
