"""Broker addresses and paho clients set up the way every envgrid component needs them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

DEFAULT_PORT = 1883
# MQTT 5 Receive Maximum is 16 bits; the broker never has more unacknowledged QoS 1
# messages in flight to us than this, which is what bounds memory when we ack late.
MAX_RECEIVE_MAXIMUM = 65535


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where a broker is and how to log in."""

    host: str
    port: int = DEFAULT_PORT
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse ``mqtt://[user[:password]@]host[:port]`` (``tcp://`` is accepted too)."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"unsupported broker URL scheme {parts.scheme!r} in {url!r}")
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r} has no host")
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORT,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def new_client(
    client_id: str,
    address: BrokerAddress,
    *,
    manual_ack: bool = False,
    max_inflight: int = 1000,
) -> mqtt.Client:
    """An MQTT 5 paho client with credentials set and a generous publish window."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    client.max_inflight_messages_set(max_inflight)
    # paho's own queue is unbounded by default; callers bound what they hand it instead.
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client


def connect_properties(
    *, session_expiry_s: int = 0, receive_maximum: int | None = None
) -> Properties:
    """CONNECT properties: a persistent session lasts ``session_expiry_s`` after a disconnect."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    if receive_maximum is not None:
        props.ReceiveMaximum = max(1, min(receive_maximum, MAX_RECEIVE_MAXIMUM))
    return props


class PublishRefused(RuntimeError):
    """paho did not take a QoS 1 message (queue full, or more than 65,535 in flight)."""


def check_publish(info: mqtt.MQTTMessageInfo) -> mqtt.MQTTMessageInfo:
    """Raise unless paho accepted the message; MQTT_ERR_NO_CONN still queues QoS > 0."""
    if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
        raise PublishRefused(f"publish refused by the MQTT client: {mqtt.error_string(info.rc)}")
    return info
