"""The ingest's hot path: routing, validation, rows and dead letters, without a network."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from envgrid_cloud.ingest.batch import Batch, Batcher
from envgrid_cloud.ingest.decode import Decoder
from envgrid_cloud.ingest.nodes import NodeCache
from envgrid_cloud.observations import NO_FLAGS, DeadLetterRecord, ReadingRecord, StatusRecord
from envgrid_common.clock import CoarseClock
from envgrid_common.messages import NodeState
from envgrid_common.topics import Topics
from envgrid_common.validation import dead_letter

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
TOPICS = Topics("unit/envgrid")


class FixedClock(CoarseClock):
    """Always ``NOW``."""

    def now(self) -> datetime:
        return NOW


def decoder(known: tuple[str, ...] = ("n1",)) -> tuple[Decoder, Batcher]:
    batcher = Batcher(max_size=1000, interval_s=0.0)
    nodes = NodeCache(lambda: known)
    nodes.refresh_if_stale()
    return Decoder(TOPICS, batcher, nodes, FixedClock()), batcher


def taken(batcher: Batcher) -> Batch:
    batcher.close()
    batch = batcher.take()
    assert batch is not None
    return batch


def reading(seq: int = 1, **extra: object) -> bytes:
    body = {"seq": seq, "ts": "2026-05-01T15:59:00+08:00", "values": {"cod": 35.2, "nh3n": 1}}
    return orjson.dumps({**body, **extra})


def test_a_reading_becomes_a_record_with_its_packet_id() -> None:
    dec, batcher = decoder()
    topic = TOPICS.readings("n1")
    payload = reading(42, flags={"cod": "T"}, historical=True)
    dec.handle(topic, payload, 9)
    dec.handle(topic, reading(43), None)  # QoS 0: stored, never acked
    batch = taken(batcher)
    assert batch.mids == [9]
    assert batch.readings == [
        ReadingRecord(
            "n1",
            datetime(2026, 5, 1, 7, 59, tzinfo=UTC),
            42,
            {"cod": 35.2, "nh3n": 1.0},
            {"cod": "T"},
            True,
            topic,
            payload,
        ),
        ReadingRecord(
            "n1",
            datetime(2026, 5, 1, 7, 59, tzinfo=UTC),
            43,
            {"cod": 35.2, "nh3n": 1.0},
            NO_FLAGS,
            False,
            topic,
            reading(43),
        ),
    ]
    assert all(type(v) is float for r in batch.readings for v in r.values.values())
    assert batch.dead_letters == []
    assert batch.unresolved == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{", "Invalid JSON"),
        (reading().replace(b"35.2", b"NaN"), "finite number"),
        (reading().replace(b"35.2", b'"35.2"'), "values.cod"),
        (b'{"seq": 1}', "Field required"),
        (reading(ts=(NOW + timedelta(hours=1)).isoformat()), "in the future"),
        (b" " * 70_000, "exceeds"),
    ],
)
def test_a_bad_reading_becomes_a_dead_letter_with_the_reason(payload: bytes, reason: str) -> None:
    dec, batcher = decoder()
    topic = TOPICS.readings("n1")
    dec.handle(topic, payload, 3)
    batch = taken(batcher)
    assert batch.mids == [3]
    assert batch.readings == []
    [letter] = batch.dead_letters
    assert letter.fingerprint == hashlib.sha256(topic.encode() + b"\0" + payload).digest()
    assert (letter.source, letter.topic, letter.encoding) == ("cloud-ingest", topic, "utf-8")
    assert reason in letter.reason
    assert letter.payload == payload.decode()


def test_a_reading_of_an_unknown_node_waits_for_the_writer_to_look_it_up() -> None:
    dec, batcher = decoder(known=())
    dec.handle(TOPICS.readings("n9"), reading(), 4)
    batch = taken(batcher)
    assert batch.readings == []
    [item] = batch.unresolved
    assert (item.node_id, item.topic, item.payload) == ("n9", TOPICS.readings("n9"), reading())
    assert isinstance(item, ReadingRecord)
    assert batch.mids == [4]


def test_statuses_with_and_without_ts_and_a_cleared_one() -> None:
    dec, batcher = decoder()
    online = b'{"state": "online", "ts": "2026-05-01T07:00:00Z"}'
    dec.handle(TOPICS.status("n1"), online, 1)
    dec.handle(TOPICS.status("n1"), b'{"state": "offline"}', 2)  # a Last Will: no ts
    dec.handle(TOPICS.status("n1"), b"", 3)  # retained status cleared: nothing to store
    dec.handle(TOPICS.status("n1"), b'{"state": "asleep"}', 4)
    batch = taken(batcher)
    assert batch.mids == [1, 2, 3, 4]
    assert batch.statuses == [
        StatusRecord(
            "n1",
            NodeState.ONLINE,
            datetime(2026, 5, 1, 7, 0, tzinfo=UTC),
            TOPICS.status("n1"),
            online,
        ),
        StatusRecord("n1", NodeState.OFFLINE, NOW, TOPICS.status("n1"), b'{"state": "offline"}'),
    ]
    [letter] = batch.dead_letters
    assert "state" in letter.reason


def test_topics_that_are_not_ours_become_dead_letters() -> None:
    dec, batcher = decoder()
    for topic in (f"{TOPICS.base}/nodes/bad id/readings", f"{TOPICS.base}/deadletter/a/b"):
        dec.handle(topic, reading(), 1)
    batch = taken(batcher)
    assert [d.topic for d in batch.dead_letters] == [
        f"{TOPICS.base}/nodes/bad id/readings",
        f"{TOPICS.base}/deadletter/a/b",
    ]
    assert all("not a unit/envgrid/v1 readings" in d.reason for d in batch.dead_letters)


def test_forwarded_dead_letters_keep_their_fields_and_bad_ones_are_refused() -> None:
    dec, batcher = decoder()
    letter = dead_letter("gw-1", "x/readings", b"\xff\x00", "not JSON")
    good = letter.model_dump_json().encode()
    nul = dead_letter("gw-1", "x/readings", b"a\x00b", "NUL inside").model_dump_json().encode()
    dec.handle(TOPICS.dead_letter("gw-1"), good, 1)
    dec.handle(TOPICS.dead_letter("gw-1"), nul, 2)
    dec.handle(TOPICS.dead_letter("gw-1"), b'{"source": "gw-1"}', 3)
    first, second, third = taken(batcher).dead_letters
    assert first == DeadLetterRecord(
        hashlib.sha256(good).digest(),
        "gw-1",
        "x/readings",
        "not JSON",
        base64.b64encode(b"\xff\x00").decode(),
        "base64",
        letter.received_at,
    )
    # PostgreSQL text cannot hold NUL: such a payload is kept as base64.
    assert (second.payload, second.encoding) == (base64.b64encode(b"a\x00b").decode(), "base64")
    assert third.source == "cloud-ingest"
    assert third.reason.startswith("malformed dead letter: ")


def test_the_coarse_clock_rereads_the_wall_clock_only_after_its_resolution() -> None:
    mono = [0.0]
    walls = iter([NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=2)])
    clock = CoarseClock(0.1, monotonic=lambda: mono[0], wall=lambda: next(walls))
    assert clock.now() == NOW
    mono[0] = 0.09
    assert clock.now() == NOW
    mono[0] = 0.1
    assert clock.now() == NOW + timedelta(seconds=1)
