"""A paho client that a :class:`~envgrid_common.netloop.loop.NetLoop` drives."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.mqtt import BrokerAddress, new_client
from envgrid_common.netloop.bufsock import BufferedSocket

log = logging.getLogger("envgrid.net")

_PUBLISH = 0x30
_PUBACK = 0x40
# Shared by every fast-path callback: read them, never change them.
PUBACK_SUCCESS = ReasonCode(PacketTypes.PUBACK, "Success")
NO_PUBACK_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
NO_PUBLISH_PROPERTIES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]


class LoopClient(mqtt.Client):
    """A paho client that a NetLoop drives.

    It overrides paho 2.x internals, checked by the unit tests (tests/unit/test_netloop.py):
    ``_create_socket`` (use the socket the loop connected, wrapped in a
    :class:`BufferedSocket`), ``_easy_log`` (paho's own errors to our log, cheaply),
    ``_loop_rc_handle`` (called by :meth:`abort`, paho's own path for a lost connection) and
    ``_packet_handle``: the two packets of every forwarded message, a QoS 1 PUBLISH without
    properties and a PUBACK saying success, skip paho's general decoder, which builds two
    ``Properties`` objects per packet (a fifth of the gateway's time); their callbacks get the
    shared, empty :data:`NO_PUBLISH_PROPERTIES`, :data:`NO_PUBACK_PROPERTIES` and
    :data:`PUBACK_SUCCESS`. Anything else takes paho's own path. paho's keepalive
    (``loop_misc``) is not used: the loop keeps connections alive by its own rule
    (:mod:`envgrid_common.netloop.keepalive`).
    Exceptions raised by callbacks are logged by paho and do not break the loop.
    """

    fast_paths = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.suppress_exceptions = True
        self._prepared: socket.socket | None = None

    def _packet_handle(self) -> MQTTErrorCode:
        if self.fast_paths:
            command: int = self._in_packet["command"]
            body: bytearray = self._in_packet["packet"]
            kind = command & 0xF0
            if kind == _PUBACK and len(body) == 2:  # MQTT 5: no reason code means success
                mid = (body[0] << 8) | body[1]
                with self._out_message_mutex:
                    if mid in self._out_messages:
                        return self._do_on_publish(mid, PUBACK_SUCCESS, NO_PUBACK_PROPERTIES)
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            if kind == _PUBLISH and command & 0x06 == 0x02:
                message = self._qos1_publish(command, body)
                if message is not None:
                    self._handle_on_message(message)
                    if self._manual_ack:
                        return MQTTErrorCode.MQTT_ERR_SUCCESS
                    return self._send_puback(message.mid)
        return super()._packet_handle()

    def _qos1_publish(self, command: int, body: bytearray) -> mqtt.MQTTMessage | None:
        """Decode a well-formed QoS 1 PUBLISH without properties; None for anything else."""
        size = len(body)
        if size < 2:
            return None
        end = 2 + ((body[0] << 8) | body[1])
        if end == 2 or end + 2 > size:
            return None  # empty topic (an alias, or an error) or too short: paho decides
        pos = end + 2
        properties = None
        if self._protocol == mqtt.MQTTv5:
            if pos >= size or body[pos] != 0:
                return None  # properties present
            pos += 1
            properties = NO_PUBLISH_PROPERTIES
        message = mqtt.MQTTMessage((body[end] << 8) | body[end + 1], bytes(body[2:end]))
        message.dup = bool(command & 0x08)
        message.qos = 1
        message.retain = bool(command & 0x01)
        message.properties = properties
        message.payload = bytes(body[pos:])
        message.timestamp = time.monotonic()
        return message

    def _create_socket(self) -> Any:
        sock, self._prepared = self._prepared, None
        if sock is None:  # paho reconnecting by itself (an MQTT 3.1 downgrade): block
            sock = socket.create_connection((self.host, self.port), self.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return BufferedSocket(sock)

    def _easy_log(self, level: int, fmt: str, *args: Any) -> None:
        if self.on_log is not None or self._logger is not None:
            super()._easy_log(level, fmt, *args)  # type: ignore[arg-type]
        elif level == mqtt.MQTT_LOG_ERR:
            log.error("%s: " + fmt, self._client_id.decode(), *args)
        elif level == mqtt.MQTT_LOG_WARNING:
            log.warning("%s: " + fmt, self._client_id.decode(), *args)

    def abort(self) -> None:
        """Drop the connection as paho does when it is lost (on_disconnect included)."""
        if self._sock is not None:
            self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)

    @property
    def name(self) -> str:
        """The client id, for log lines."""
        return self._client_id.decode(errors="replace")


def new_loop_client(
    client_id: str,
    address: BrokerAddress,
    *,
    manual_ack: bool = False,
    persistent: bool = False,
) -> LoopClient:
    """A :class:`LoopClient` made by :func:`envgrid_common.mqtt.new_client`.

    No in-flight limit: paho's limit costs a scan of every unacknowledged message on each
    PUBACK, and the user bounds what it has in flight itself.
    """
    client = new_client(
        client_id,
        address,
        manual_ack=manual_ack,
        max_inflight=0,
        persistent=persistent,
        client_class=LoopClient,
    )
    assert isinstance(client, LoopClient)
    return client
