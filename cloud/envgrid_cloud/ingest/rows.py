"""Records as the ingest's SQL takes them: the one place their values become JSON."""

from __future__ import annotations

import hashlib

import orjson

from envgrid_cloud.observations import (
    DeadLetterRecord,
    DetectionRecord,
    ReadingRecord,
    SnapshotRecord,
)


def as_is(document: object) -> bytes:
    """JSON for jsonb parameters: bytes pass as they are, anything else is dumped."""
    # The COPY rows carry vals and flags as JSON bytes already (staged); anything else (rule
    # states, case details, from the rules in the same transaction) is dumped here.
    return document if isinstance(document, bytes) else orjson.dumps(document)


def staged(r: ReadingRecord) -> tuple[object, ...]:
    """A reading as the staging table's binary COPY takes it."""
    flags = orjson.dumps(r.flags) if r.flags else None
    return (r.node_id, r.ts, r.seq, orjson.dumps(r.values), flags, r.historical)


def detection_row(d: DetectionRecord) -> tuple[object, ...]:
    """A detection as ``insert_detection`` takes it, with the message as the JSON ``body``."""
    body = {
        "seq": d.seq,
        "ts": d.ts,
        "event_id": d.event_id,
        "kind": d.kind,
        "phase": d.phase,
        "confidence": d.confidence,
        "bbox": d.bbox,
        "has_snapshot": d.has_snapshot,
        "historical": d.historical,
    }
    return (
        d.node_id,
        d.ts,
        d.seq,
        d.event_id,
        d.kind.value,
        d.phase.value,
        d.confidence,
        orjson.dumps(body),
        d.historical,
    )


def dead_letter_row(d: DeadLetterRecord) -> tuple[object, ...]:
    """A dead letter as ``insert_dead_letter`` takes it."""
    return (d.fingerprint, d.source, d.topic, d.reason, d.payload, d.encoding, d.received_at)


def snapshot_row(s: SnapshotRecord) -> dict[str, object]:
    """A snapshot as ``upsert_snapshot`` takes it: the JPEG, its size and digest."""
    return {
        "node_id": s.node_id,
        "event_id": s.event_id,
        "jpeg": s.payload,
        "size": len(s.payload),
        "digest": hashlib.sha256(s.payload).digest(),
        "received_at": s.received_at,
        "topic": s.topic,
    }
