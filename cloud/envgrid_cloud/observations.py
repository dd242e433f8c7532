"""What the ingest decodes, stores and hands the rules: typed, frozen records, one per message.

The ingest makes them, the rules judge them, and neither imports the other: both import this.
A record from a message keeps that message's topic and payload byte for byte, so a refusal
further on (a node the registry does not know, a row the database refuses) dead-letters what
was sent, not a rebuilt copy. Records are frozen; their mappings are the decoder's own and
are never changed after it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from envgrid_common.messages import Detection, DetectionKind, DetectionPhase, NodeState

NO_FLAGS: Mapping[str, str] = MappingProxyType({})


def _no_flags() -> Mapping[str, str]:
    # A factory, as dataclasses refuse an unhashable default; it hands out the one empty map.
    return NO_FLAGS


@dataclass(frozen=True, slots=True)
class ReadingRecord:
    """One reading of one node: values (and HJ 212 flags) by metric name."""

    node_id: str
    ts: datetime  # source time, aware
    seq: int
    values: Mapping[str, float]
    flags: Mapping[str, str] = field(default_factory=_no_flags)
    historical: bool = False
    topic: str = ""
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class DetectionRecord:
    """One message of a camera incident (new, update or end)."""

    node_id: str
    ts: datetime
    seq: int
    event_id: str
    kind: DetectionKind
    phase: DetectionPhase
    confidence: float
    historical: bool = False
    bbox: tuple[int, int, int, int] | None = None
    has_snapshot: bool = False
    topic: str = ""
    payload: bytes = b""

    @classmethod
    def from_detection(
        cls, node_id: str, d: Detection, topic: str = "", payload: bytes = b""
    ) -> DetectionRecord:
        """The record of a wire detection."""
        return cls(
            node_id,
            d.ts,
            d.seq,
            d.event_id,
            d.kind,
            d.phase,
            d.confidence,
            d.historical,
            d.bbox,
            d.has_snapshot,
            topic,
            payload,
        )


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """A node's retained status: online, or offline (possibly its Last Will)."""

    node_id: str
    state: NodeState
    ts: datetime  # the source's, or the receipt time when the status has none
    topic: str = ""
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """The JPEG evidence of one camera incident; ``payload`` is the JPEG itself."""

    node_id: str
    event_id: str
    received_at: datetime  # when it reached the cloud (retention counts from it)
    topic: str = ""
    payload: bytes = b""


NodeRecord = ReadingRecord | DetectionRecord | StatusRecord | SnapshotRecord
"""A record of a message from a node."""


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A node's status that changed (not one merely repeated); ``previous`` as stored before."""

    node_id: str
    state: NodeState
    at: datetime
    previous: str | None = None


Observation = ReadingRecord | DetectionRecord | StatusChange
"""What the rules judge."""


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A refused message as the ``dead_letters`` table keeps it (the payload as text)."""

    fingerprint: bytes  # identifies the message: a redelivered copy is stored once
    source: str
    topic: str
    reason: str
    payload: str
    encoding: Literal["utf-8", "base64"]
    received_at: datetime

    def original(self) -> bytes:
        """The refused payload, byte for byte as it arrived."""
        if self.encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode()


@dataclass(frozen=True, slots=True)
class Fresh:
    """What a batch stored for the first time: the rules judge these, and only these."""

    readings: Sequence[ReadingRecord] = ()
    detections: Sequence[DetectionRecord] = ()
    status_changes: Sequence[StatusChange] = ()

    def __bool__(self) -> bool:
        return bool(self.readings or self.detections or self.status_changes)
