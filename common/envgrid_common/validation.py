"""Checking node messages against the contract, with a reason an operator can read."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from pydantic import ValidationError

from envgrid_common.messages import DeadLetter, Detection, NodeStatus, Reading
from envgrid_common.topics import NodeChannel, NodeTopic, Topics

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
# A node clock may run a little fast; much more is a broken clock.
MAX_CLOCK_AHEAD = timedelta(minutes=10)
# Outboxes keep data for days, not years; older stamps are unset clocks (the year-2000 kind).
MAX_AGE = timedelta(days=400)
# The same bounds in seconds, less a millisecond: a stamp inside them passes without the
# exact datetime comparison (comparing datetimes of two zones asks each zone its offset,
# a Python call for pydantic's, 3 µs a message at the gateway).
_AHEAD_S = MAX_CLOCK_AHEAD.total_seconds() - 0.001
_AGE_S = MAX_AGE.total_seconds() - 0.001

_MODELS: dict[NodeChannel, type[Reading] | type[Detection] | type[NodeStatus]] = {
    NodeChannel.READINGS: Reading,
    NodeChannel.DETECTIONS: Detection,
    NodeChannel.STATUS: NodeStatus,
}


class Rejected(ValueError):
    """A message that breaks the contract; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Accepted:
    """A message that keeps the contract."""

    topic: NodeTopic
    message: Reading | Detection | NodeStatus | None  # None for snapshot bytes


def describe(error: ValidationError, limit: int = 3) -> str:
    """Pydantic's errors as one short line: ``values.cod: Input should be a finite number``."""
    parts = []
    for item in error.errors(include_url=False)[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "message"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def check_time(ts: datetime, now: datetime) -> None:
    """Refuse source timestamps that cannot be real (unset clocks, far future)."""
    if ts.tzinfo is not None and now.tzinfo is not None:
        stamp, now_s = ts.timestamp(), now.timestamp()
        if now_s - _AGE_S < stamp < now_s + _AHEAD_S:
            return
    if ts > now + MAX_CLOCK_AHEAD:
        raise Rejected(f"ts {ts.isoformat()} is in the future (now {now.isoformat()})")
    if ts < now - MAX_AGE:
        raise Rejected(f"ts {ts.isoformat()} is older than {MAX_AGE.days} days: unset clock?")


def parse_node_message(
    channel: NodeChannel, payload: bytes, now: datetime
) -> Reading | Detection | NodeStatus:
    """Validate one node message body; raise :class:`Rejected` with the reason."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        message = _MODELS[channel].model_validate_json(payload)
    except ValidationError as error:
        raise Rejected(describe(error)) from None
    ts = message.ts
    if ts is not None:
        check_time(ts, now)
    return message


def validate(topics: Topics, topic: str, payload: bytes, now: datetime | None = None) -> Accepted:
    """Validate a message by its topic and body."""
    parsed = _parse_node_topic(topics, topic)
    if parsed is None:
        raise Rejected(f"not an envgrid {topics.base} node topic")
    if parsed.channel is NodeChannel.SNAPSHOTS:
        if not payload.startswith(b"\xff\xd8"):
            raise Rejected("snapshot is not a JPEG")
        if len(payload) > MAX_SNAPSHOT_BYTES:
            raise Rejected(f"snapshot of {len(payload)} bytes exceeds {MAX_SNAPSHOT_BYTES}")
        return Accepted(parsed, None)
    return Accepted(parsed, parse_node_message(parsed.channel, payload, now or datetime.now(UTC)))


@lru_cache(maxsize=16384)
def _parse_node_topic(topics: Topics, topic: str) -> NodeTopic | None:
    """``topics.parse_node_topic``, remembered: a township's nodes use the same few topics."""
    return topics.parse_node_topic(topic)


def dead_letter(source: str, topic: str, payload: bytes, reason: str) -> DeadLetter:
    """Wrap a refused message so that nothing about it is lost."""
    try:
        body, encoding = payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(payload).decode("ascii"), "base64"
    return DeadLetter(
        source=source,
        topic=topic[:1024],
        reason=reason[:2000],
        payload=body,
        encoding=encoding,  # type: ignore[arg-type]
        received_at=datetime.now(UTC),
    )
