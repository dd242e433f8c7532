"""One virtual node's MQTT connection: its Last Will, checked publishes, a way to pull the plug."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.messages import NodeState, NodeStatus
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.topics import Topics


class PublishRejected(RuntimeError):
    """The broker answered a publish with a failure reason code (e.g. not authorised)."""


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Where and how the nodes of one simulator connect."""

    address: BrokerAddress
    topics: Topics
    client_id_prefix: str = ""
    keepalive_s: int = 30
    publish_timeout_s: float = 10.0


def offline_will(topics: Topics, node_id: str) -> aiomqtt.Will:
    """The retained ``offline`` status the broker publishes if the node vanishes.

    It carries no ``ts``: it is set at connect time, and that is not when the node went away.
    """
    payload = NodeStatus(state=NodeState.OFFLINE, kind="sensor").model_dump_json(exclude_none=True)
    return aiomqtt.Will(topics.status(node_id), payload, qos=1, retain=True)


class NodeClient(aiomqtt.Client):
    """An aiomqtt client that also notices PUBACK failure codes (aiomqtt ignores them)."""

    def __init__(self, node_id: str, config: LinkConfig) -> None:
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
        )
        self._rejected: ReasonCode | None = None

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        # A node awaits each publish before the next, so the last failure belongs to it.
        if reason_code.is_failure:
            self._rejected = reason_code
        super()._on_publish(client, userdata, mid, reason_code, properties)

    async def publish_checked(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish and wait for the broker's acknowledgement; raise if it failed or refused."""
        self._rejected = None
        await self.publish(topic, payload, qos=qos, retain=retain)
        rejected, self._rejected = self._rejected, None
        if rejected is not None:
            raise PublishRejected(f"broker refused publish to {topic}: {rejected}")

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
