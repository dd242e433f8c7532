"""The few MQTT packets a publishing node needs (3.1.1 and 5), encoded and split by hand.

A swarm of thousands of nodes cannot afford a paho client (and its threads, locks and
property objects) per node: CONNECT with a Will, PUBLISH at QoS 1, PINGREQ and DISCONNECT
are all a node ever sends, and CONNACK, PUBACK, PINGRESP and DISCONNECT all it reads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
PINGRESP = 0xD0
DISCONNECT = 0xE0

PINGREQ_PACKET = b"\xc0\x00"


def _varint(n: int) -> bytes:
    """MQTT's variable byte integer (remaining length, property length)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _bin(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


@dataclass(frozen=True, slots=True)
class Will:
    """A retained QoS 1 Last Will."""

    topic: str
    payload: bytes


def connect_packet(
    client_id: str,
    *,
    v5: bool,
    keepalive_s: int,
    will: Will | None = None,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT with a clean session (a node's outbox, not the broker, keeps what is unsent)."""
    flags = 0x02  # clean session / clean start
    if will is not None:
        flags |= 0x04 | (1 << 3) | 0x20  # will, QoS 1, retain
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = _str("MQTT") + bytes([5 if v5 else 4, flags]) + struct.pack("!H", keepalive_s)
    if v5:
        body += b"\x00"  # no properties
    body += _str(client_id)
    if will is not None:
        if v5:
            body += b"\x00"  # no will properties
        body += _str(will.topic) + _bin(will.payload)
    if username is not None:
        body += _str(username)
    if password is not None:
        body += _bin(password.encode())
    return b"\x10" + _varint(len(body)) + body


def publish_packet(topic: bytes, payload: bytes, mid: int, *, v5: bool, retain: bool) -> bytes:
    """PUBLISH at QoS 1; ``topic`` already encoded (a node encodes its topics once)."""
    head = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid)
    if v5:
        head += b"\x00"  # no properties
    first = 0x32 | (0x01 if retain else 0)
    return bytes([first]) + _varint(len(head) + len(payload)) + head + payload


def disconnect_packet(*, v5: bool) -> bytes:
    """DISCONNECT, normal: the broker drops the Will."""
    return b"\xe0\x01\x00" if v5 else b"\xe0\x00"


class Splitter:
    """Cuts a byte stream into (packet type, body) pairs."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Every complete packet ``data`` finishes, in order."""
        buf = self._buf
        buf += data
        packets: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            length, shift, i, complete = 0, 0, pos + 1, False
            while i < end:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    raise ValueError("malformed remaining length")
            if not complete or end - i < length:
                break
            packets.append((buf[pos] & 0xF0, bytes(buf[i : i + length])))
            pos = i + length
        if pos:
            del buf[:pos]
        return packets


def connack_code(body: bytes) -> int:
    """The CONNACK's return (3.1.1) or reason (5) code: 0 is accepted."""
    return body[1] if len(body) >= 2 else 0x80


def puback_of(body: bytes) -> tuple[int, int]:
    """(packet id, reason code) of a PUBACK; 3.1.1 and a bare 5 PUBACK mean success (0)."""
    mid = (body[0] << 8) | body[1]
    return mid, body[2] if len(body) > 2 else 0
