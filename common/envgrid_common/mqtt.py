"""Broker addresses and paho clients set up the way every envgrid component needs them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

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
    # MQTT 5 by default; "3.1.1" for brokers that speak nothing newer (the demo's pip broker).
    protocol: Literal["5", "3.1.1"] = "5"

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse ``mqtt://[user[:password]@]host[:port][?protocol=3.1.1]``."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"unsupported broker URL scheme {parts.scheme!r} in {url!r}")
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r} has no host")
        protocol = parse_qs(parts.query).get("protocol", ["5"])[-1]
        if protocol not in ("5", "3.1.1"):
            raise ValueError(f"broker URL {url!r}: protocol must be 5 or 3.1.1")
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORT,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            protocol="5" if protocol == "5" else "3.1.1",
        )

    @property
    def v5(self) -> bool:
        """Whether to speak MQTT 5 (shared subscriptions, Receive Maximum, session expiry)."""
        return self.protocol == "5"

    def __str__(self) -> str:
        suffix = "" if self.v5 else "?protocol=3.1.1"
        return f"mqtt://{self.host}:{self.port}{suffix}"


# Longest wait between reconnect attempts, in seconds (paho doubles from 1 s up to this).
RECONNECT_MAX_S = 3


def new_client(
    client_id: str,
    address: BrokerAddress,
    *,
    manual_ack: bool = False,
    max_inflight: int = 1000,
    persistent: bool = False,
    client_class: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    """A paho client for ``address`` with credentials set and a generous publish window.

    ``persistent`` asks the broker to keep the session (subscriptions, unacknowledged
    messages) across disconnects; with MQTT 5 how long is set by :func:`connect`.
    ``max_inflight`` 0 means no limit (paho then skips its per-PUBACK scan of every
    unacknowledged message; the caller bounds what is in flight). ``client_class`` may be a
    paho ``Client`` subclass.
    """
    client = client_class(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if address.v5 else mqtt.MQTTv311,
        clean_session=None if address.v5 else not persistent,
        manual_ack=manual_ack,
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    client.max_inflight_messages_set(max_inflight)
    # paho's own queue is unbounded by default; callers bound what they hand it instead.
    client.max_queued_messages_set(0)
    # Back within a few seconds of a broker's return: after a restart Mosquitto delivers to no
    # shared subscriber until it has subscribed again, so every second here delays recovery.
    client.reconnect_delay_set(min_delay=1, max_delay=RECONNECT_MAX_S)
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


def connect(
    client: mqtt.Client,
    address: BrokerAddress,
    *,
    persistent: bool = False,
    session_expiry_s: int = 0,
    receive_maximum: int | None = None,
    keepalive: int = 30,
    background: bool = True,
) -> None:
    """Connect ``client`` (made by :func:`new_client` for the same address) by protocol.

    With ``background`` the connection is made by paho's network loop (``loop_start``),
    which also keeps retrying while the broker is away.
    """
    if address.v5:
        kwargs: dict[str, object] = {
            "clean_start": not persistent,
            "properties": connect_properties(
                session_expiry_s=session_expiry_s if persistent else 0,
                receive_maximum=receive_maximum,
            ),
        }
    else:
        kwargs = {}
    if background:
        client.connect_async(address.host, address.port, keepalive, **kwargs)  # type: ignore[arg-type]
    else:
        client.connect(address.host, address.port, keepalive, **kwargs)  # type: ignore[arg-type]


class PublishRefused(RuntimeError):
    """paho did not take a QoS 1 message (queue full, or more than 65,535 in flight)."""


def check_publish(info: mqtt.MQTTMessageInfo) -> mqtt.MQTTMessageInfo:
    """Raise unless paho accepted the message; MQTT_ERR_NO_CONN still queues QoS > 0."""
    if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
        raise PublishRefused(f"publish refused by the MQTT client: {mqtt.error_string(info.rc)}")
    return info
