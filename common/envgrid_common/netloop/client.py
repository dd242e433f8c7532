"""A paho client that a :class:`~envgrid_common.netloop.loop.NetLoop` drives."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.mqtt import BrokerAddress, check_publish, new_client
from envgrid_common.netloop import paho_private  # noqa: F401  (checks paho at import)
from envgrid_common.netloop.bufsock import BufferedSocket

log = logging.getLogger("envgrid.net")

_PUBLISH = 0x30
_PUBACK = 0x40
# Shared by every fast-path callback: read them, never change them.
PUBACK_SUCCESS = ReasonCode(PacketTypes.PUBACK, "Success")
NO_PUBACK_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
NO_PUBLISH_PROPERTIES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]


class _Message(mqtt.MQTTMessage):
    """An MQTTMessage without the MQTTMessageInfo (and its Condition) paho makes for each one.

    Nobody waits on the info of a received message or of a fast publish; paho only marks a
    publish's info published on its PUBACK, which the shared :data:`_SHARED_INFO` absorbs.
    """

    __slots__ = ()

    def __init__(self, mid: int, topic: bytes, payload: bytes, retain: bool, dup: bool) -> None:
        # Every slot MQTTMessage.__init__ sets, without its MQTTMessageInfo.
        self.timestamp = time.monotonic()
        self.state = mqtt.mqtt_ms_invalid
        self.dup = dup
        self.mid = mid
        self._topic = topic
        self.payload = payload
        self.qos = 1
        self.retain = retain
        self.info = _SHARED_INFO
        self.properties = None


_SHARED_INFO = mqtt.MQTTMessageInfo(0)


def readable_topic(message: mqtt.MQTTMessage) -> str:
    """The message's topic, with bytes that are not UTF-8 replaced (for a dead letter's sake)."""
    try:
        return message.topic
    except UnicodeDecodeError:
        # Brokers check topics are UTF-8; paho keeps the raw bytes only in a private slot.
        raw: bytes = message._topic
        return raw.decode("utf-8", "replace")


class LoopClient(mqtt.Client):
    """A paho client that a NetLoop drives.

    It overrides or uses paho 2.x internals, all listed (and checked at import) in
    :mod:`envgrid_common.netloop.paho_private`: ``_create_socket`` (use the socket the loop
    connected, wrapped in a :class:`BufferedSocket`), ``_easy_log`` (paho's own errors to our
    log, cheaply), ``_loop_rc_handle`` (called by :meth:`abort`, paho's own path for a lost
    connection), and three fast paths for the packets of every forwarded message:

    * ``_packet_read``: a packet already whole in the socket's buffer is taken in one piece,
      not a call per header byte;
    * ``_packet_handle``: a QoS 1 PUBLISH without properties and a PUBACK saying success skip
      paho's general decoder, which builds two ``Properties`` objects per packet; their
      callbacks get the shared, empty :data:`NO_PUBLISH_PROPERTIES`,
      :data:`NO_PUBACK_PROPERTIES` and :data:`PUBACK_SUCCESS`; without per-subscription
      callbacks (``message_callback_add``) a message goes straight to ``on_message``;
    * :meth:`publish_qos1` and ``_send_puback`` write their packet straight into the buffered
      socket when paho has nothing queued before it (order is kept), and a fast publish is
      kept in paho's ``_out_messages`` like any other, so paho resends it after a reconnect.

    Anything else takes paho's own path. paho's keepalive (``loop_misc``) is not used: the
    loop keeps connections alive by its own rule (:mod:`envgrid_common.netloop.keepalive`).
    Exceptions raised by callbacks are logged by paho and do not break the loop.
    """

    fast_paths = True

    def __init__(
        self,
        callback_api_version: CallbackAPIVersion,
        client_id: str = "",
        *,
        manual_ack: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(callback_api_version, client_id, manual_ack=manual_ack, **kwargs)
        self.suppress_exceptions = True
        self._prepared: socket.socket | None = None
        self._acks_manually = manual_ack  # paho has no getter; manual_ack_set keeps it
        self._id = client_id
        self._v5 = self.protocol == mqtt.MQTTv5
        self._filters: set[str] = set()  # subscriptions with a callback of their own

    def message_callback_add(self, sub: str, callback: Any) -> None:
        """As paho's, noting that messages must be matched against ``sub``."""
        super().message_callback_add(sub, callback)
        self._filters.add(sub)

    def message_callback_remove(self, sub: str) -> None:
        """As paho's."""
        super().message_callback_remove(sub)
        self._filters.discard(sub)

    def manual_ack_set(self, on: bool) -> None:
        """As paho's, noting the setting for the fast paths."""
        super().manual_ack_set(on)
        self._acks_manually = on

    def publish_qos1(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """Publish at QoS 1 as ``publish`` does, cheaply; return the packet id.

        Raises :class:`~envgrid_common.mqtt.PublishRefused` if paho refuses the message, and
        ValueError for a topic it refuses, as ``publish`` does.
        """
        sock = self._sock
        if not self.fast_paths or self._out_packet or sock is None or not self.is_connected():
            # Something queued must go first, or no connection: paho queues it in order.
            return check_publish(self.publish(topic, payload, qos=1, retain=retain)).mid
        topic_bytes = topic.encode()
        if not 0 < len(topic_bytes) < 65536 or "+" in topic or "#" in topic:
            return check_publish(self.publish(topic, payload, qos=1, retain=retain)).mid
        with self._out_message_mutex:
            mid = self._mid_generate()
            taken = mid in self._out_messages
            if not taken:
                message = _Message(mid, topic_bytes, payload, retain, False)
                message.state = mqtt.mqtt_ms_wait_for_puback
                self._out_messages[mid] = message
                self._inflight_messages += 1
        if taken:  # 65,535 outstanding: paho refuses it, with its own error
            return check_publish(self.publish(topic, payload, qos=1, retain=retain)).mid
        sock.send(_publish_packet(topic_bytes, payload, mid, retain, self._v5))
        return mid

    def _send_puback(self, mid: int) -> MQTTErrorCode:
        sock = self._sock
        if self.fast_paths and not self._out_packet and sock is not None:
            sock.send(bytes((_PUBACK, 2, mid >> 8, mid & 0xFF)))  # success: no reason code
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._send_puback(mid)

    def _packet_read(self) -> MQTTErrorCode:
        in_packet = self._in_packet
        sock = self._sock
        if not self.fast_paths or in_packet["command"] or not isinstance(sock, BufferedSocket):
            return super()._packet_read()
        whole = sock.take_packet()
        if whole is None:  # not all there yet: paho reads it piece by piece
            return super()._packet_read()
        in_packet["command"] = whole[0]
        in_packet["packet"] = bytearray(whole[1])
        try:
            return self._packet_handle()
        except MalformedPacket as error:
            self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", error)
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        finally:
            # paho's state between packets; the other keys never left it on this path.
            in_packet["command"] = 0
            in_packet["packet"] = bytearray()

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
                    self._deliver(message)
                    if self._acks_manually:
                        return MQTTErrorCode.MQTT_ERR_SUCCESS
                    return self._send_puback(message.mid)
        return super()._packet_handle()

    def _deliver(self, message: mqtt.MQTTMessage) -> None:
        """paho's ``_handle_on_message``, without matching callbacks when there are none."""
        # paho walks its tree of per-subscription callbacks for every message, empty or not:
        # 6 % of the gateway's network thread.
        if self._filters:
            self._handle_on_message(message)
            return
        on_message = self.on_message
        if on_message is None:
            return
        try:
            on_message(self, self.user_data_get(), message)
        except Exception as error:
            self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", error)
            if not self.suppress_exceptions:
                raise

    def _qos1_publish(self, command: int, body: bytearray) -> mqtt.MQTTMessage | None:
        """Decode a well-formed QoS 1 PUBLISH without properties; None for anything else."""
        size = len(body)
        if size < 2:
            return None
        end = 2 + ((body[0] << 8) | body[1])
        if end == 2 or end + 2 > size:
            return None  # empty topic (an alias, or an error) or too short: paho decides
        pos = end + 2
        if self._v5:
            if pos >= size or body[pos] != 0:
                return None  # properties present
            pos += 1
        message = _Message(
            (body[end] << 8) | body[end + 1],
            bytes(body[2:end]),
            bytes(body[pos:]),
            bool(command & 0x01),
            bool(command & 0x08),
        )
        if self._v5:
            message.properties = NO_PUBLISH_PROPERTIES
        return message

    def _create_socket(self) -> Any:
        sock, self._prepared = self._prepared, None
        if sock is None:  # paho reconnecting by itself (an MQTT 3.1 downgrade): block
            sock = socket.create_connection((self.host, self.port), self.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return BufferedSocket(sock)

    def _easy_log(self, level: int, fmt: str, *args: Any) -> None:
        if self.on_log is not None or self.logger is not None:
            super()._easy_log(level, fmt, *args)  # type: ignore[arg-type]
        elif level == mqtt.MQTT_LOG_ERR:
            log.error("%s: " + fmt, self._id, *args)
        elif level == mqtt.MQTT_LOG_WARNING:
            log.warning("%s: " + fmt, self._id, *args)

    def abort(self) -> None:
        """Drop the connection as paho does when it is lost (on_disconnect included)."""
        if self._sock is not None:
            self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)

    @property
    def name(self) -> str:
        """The client id, for log lines."""
        return self._id


def _publish_packet(topic: bytes, payload: bytes, mid: int, retain: bool, v5: bool) -> bytes:
    """A QoS 1 PUBLISH packet, as paho's ``_send_publish`` builds it (no properties)."""
    head = len(topic).to_bytes(2, "big") + topic + mid.to_bytes(2, "big")
    if v5:
        head += b"\0"  # no properties
    length = len(head) + len(payload)
    header = bytearray((_PUBLISH | 0x02 | retain,))
    while True:  # the remaining length, 7 bits a byte
        byte, length = length & 0x7F, length >> 7
        header.append(byte | 0x80 if length else byte)
        if not length:
            break
    return b"".join((header, head, payload))


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
