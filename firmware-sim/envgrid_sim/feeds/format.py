"""The feed file layout (docs/feeds.md): a versioned header, then independently compressed blocks.

A block holds whole records and is written with one ``write`` call; its header carries its
lengths, a CRC32 of the records and the receive times of its first and last record, so a
reader can check it, skip it or count it without decompressing. A record is complete once its
block is in the file: after a crash the reader keeps every whole block and drops a torn tail.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

MAGIC = b"EGFEED\r\n\x1a\n"  # PNG-style: line-ending or 7-bit mangling shows at once
FORMAT_VERSION = 1
SUFFIX = ".egfeed"

# After MAGIC: format version, length of the JSON metadata that follows.
FILE_HEAD = struct.Struct("<HI")
# Block: magic, codec, stored length, raw length, CRC32 of the raw bytes, records,
# receive time (UTC ns) of the first and the last record.
BLOCK_HEAD = struct.Struct("<4sBIIIIQQ")
BLOCK_MAGIC = b"EGB1"
CODEC_NONE = 0
CODEC_ZLIB = 1
# Record: length of what follows the length, then receive time (UTC ns), flags, topic length,
# properties length; then topic (UTF-8), properties (MQTT 5 wire encoding), payload.
RECORD_LEN = struct.Struct("<I")
RECORD_HEAD = struct.Struct("<QBHI")
QOS_MASK = 0x03
RETAIN_FLAG = 0x04

# The PUBLISH properties a feed keeps: what the publisher meant. Topic aliases and
# subscription identifiers belong to one connection and mean nothing on another.
KEPT_PROPERTIES = (
    "PayloadFormatIndicator",
    "MessageExpiryInterval",
    "ContentType",
    "ResponseTopic",
    "CorrelationData",
    "UserProperty",
)


class FeedError(ValueError):
    """Not a feed file, or one written by a newer envgrid."""


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """One message as the recorder received it."""

    time_ns: int  # receive time, UTC nanoseconds since the epoch
    topic: str
    qos: int
    retain: bool
    properties: bytes  # MQTT 5 wire encoding (see pack_properties); b"" for none
    payload: bytes


def encode_record(record: FeedRecord) -> bytes:
    """A record's bytes, length first."""
    topic = record.topic.encode()
    flags = (record.qos & QOS_MASK) | (RETAIN_FLAG if record.retain else 0)
    head = RECORD_HEAD.pack(record.time_ns, flags, len(topic), len(record.properties))
    size = len(head) + len(topic) + len(record.properties) + len(record.payload)
    return b"".join((RECORD_LEN.pack(size), head, topic, record.properties, record.payload))


def decode_records(raw: bytes) -> list[FeedRecord]:
    """The records of one block's raw bytes, in order."""
    records: list[FeedRecord] = []
    append = records.append
    unpack_len, unpack_head = RECORD_LEN.unpack_from, RECORD_HEAD.unpack_from
    head_size = RECORD_LEN.size + RECORD_HEAD.size
    pos, end = 0, len(raw)
    while pos < end:
        (size,) = unpack_len(raw, pos)
        time_ns, flags, topic_len, props_len = unpack_head(raw, pos + RECORD_LEN.size)
        start = pos + head_size
        props_at = start + topic_len
        payload_at = props_at + props_len
        pos += RECORD_LEN.size + size
        append(
            FeedRecord(
                time_ns,
                raw[start:props_at].decode(),
                flags & QOS_MASK,
                bool(flags & RETAIN_FLAG),
                raw[props_at:payload_at],
                raw[payload_at:pos],
            )
        )
    if pos != end:
        raise FeedError("a block's last record runs past its end")
    return records


def encode_header(meta: dict[str, Any]) -> bytes:
    """The file header: magic, version, JSON metadata."""
    body = orjson.dumps({"format": FORMAT_VERSION, **meta})
    return MAGIC + FILE_HEAD.pack(FORMAT_VERSION, len(body)) + body


def pack_properties(properties: Properties | None) -> bytes:
    """The kept properties of a received PUBLISH in MQTT 5 wire encoding; b"" if none."""
    if properties is None:
        return b""
    kept = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    present = False
    for name in KEPT_PROPERTIES:
        value = getattr(properties, name, None)
        if value is not None and value != []:
            setattr(kept, name, value)
            present = True
    return kept.pack() if present else b""  # type: ignore[no-untyped-call]


def unpack_properties(packed: bytes) -> Properties | None:
    """Properties to publish with, from :func:`pack_properties`'s bytes; None for none."""
    if not packed:
        return None
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.unpack(packed)  # type: ignore[no-untyped-call]
    return properties
