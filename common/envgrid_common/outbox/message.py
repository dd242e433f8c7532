"""What goes into an outbox: a message, its kind (which sets its overflow policy) and a row."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import orjson


class Kind(StrEnum):
    """The kind of a queued message; it decides how the outbox treats it when full."""

    READING = "reading"  # bulk telemetry: the oldest are dropped first when the outbox is full
    DETECTION = "detection"  # an event: never dropped
    STATUS = "status"  # liveness: never dropped, only the newest per key is kept, sent first
    # What a gateway passes on. In order, never dropped: a relayed status keeps its place
    # (an offline spell between two onlines is news), snapshots are JPEG bytes, and dead
    # letters are the gateway's own report of bad input.
    RELAYED_STATUS = "relayed_status"
    SNAPSHOT = "snapshot"
    DEAD_LETTER = "dead_letter"


# Kinds whose JSON body has a ``historical`` field (NodeStatus has none: extra fields are
# refused; snapshots are JPEG; a dead letter is about the past already).
MARKABLE = frozenset({Kind.READING, Kind.DETECTION})
DROPPABLE = frozenset({Kind.READING})


@dataclass(frozen=True, slots=True)
class OutMessage:
    """A message to publish at QoS 1; ``key`` groups statuses (one node's, say)."""

    kind: Kind
    topic: str
    payload: bytes
    retain: bool = False
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """A queued message as stored: ``live`` is the connection it was produced live on, or 0."""

    id: int
    kind: Kind
    topic: str
    payload: bytes
    retain: bool
    live: int
    created: float
    stream: str = ""


def mark_historical(payload: bytes) -> bytes:
    """The JSON object ``payload`` with ``"historical": true`` (unchanged if not an object)."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    if not isinstance(body, dict):
        return payload
    body["historical"] = True
    return orjson.dumps(body)


def wire_payload(row: Row, epoch: int) -> bytes:
    """What to publish for ``row`` on connection ``epoch``: marked historical unless live."""
    if row.kind in MARKABLE and row.live != epoch:
        return mark_historical(row.payload)
    return row.payload
