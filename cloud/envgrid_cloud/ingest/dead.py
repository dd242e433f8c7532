"""Dead letters: refused messages as the ``dead_letters`` table stores them."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC

from pydantic import ValidationError

from envgrid_cloud.observations import DeadLetterRecord
from envgrid_common.messages import DeadLetter
from envgrid_common.validation import dead_letter, describe

SOURCE = "cloud-ingest"
# PostgreSQL text cannot hold NUL; a row carrying one would fail its whole batch, forever.
_NUL = "\x00"


def refused(topic: str, payload: bytes, reason: str) -> DeadLetterRecord:
    """A message this ingest refuses; a redelivered copy gets the same fingerprint."""
    fingerprint = hashlib.sha256(topic.encode() + b"\0" + payload).digest()
    return to_record(fingerprint, dead_letter(SOURCE, topic, payload, reason))


def forwarded(topic: str, payload: bytes) -> DeadLetterRecord:
    """A dead letter a gateway published; if it is itself malformed, refuse it instead."""
    try:
        letter = DeadLetter.model_validate_json(payload)
    except ValidationError as error:
        return refused(topic, payload, f"malformed dead letter: {describe(error)}")
    return to_record(hashlib.sha256(payload).digest(), letter)


def to_record(fingerprint: bytes, letter: DeadLetter) -> DeadLetterRecord:
    """The record of ``letter``, with anything PostgreSQL text cannot hold made safe."""
    body, encoding = letter.payload, letter.encoding
    received_at = letter.received_at
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)  # the contract's times are UTC
    if _NUL in body:
        body, encoding = base64.b64encode(body.encode()).decode("ascii"), "base64"
    return DeadLetterRecord(
        fingerprint,
        _text(letter.source),
        _text(letter.topic),
        _text(letter.reason),
        body,
        encoding,
        received_at,
    )


def _text(value: str) -> str:
    return value.replace(_NUL, "\ufffd") if _NUL in value else value
