"""Refused messages become dead letters with a readable reason; the valid ones around them land."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import orjson

from envgrid_common.topics import Topics
from envgrid_common.validation import dead_letter
from tests.integration.test_ingest_support import (
    NODES,
    count,
    ingest_settings,
    publisher,
    reading,
    rows,
    running,
    seed_nodes,
)
from tests.polling import wait_until

FUTURE = (datetime.now(UTC) + timedelta(days=1)).isoformat()
BAD_READINGS: dict[str, tuple[bytes, str]] = {
    # name: (payload, a fragment the stored reason must contain)
    "bad json": (b'{"seq": 1, "ts": ', "Invalid JSON"),
    "wrong types": (b'{"seq": "42", "ts": "2026-05-01T08:00:00+08:00", "values": {}}', "seq"),
    "nan": (reading(2, cod=1.0).replace(b"1.0", b"NaN"), "finite number"),
    "missing fields": (b'{"values": {"cod": 1.0}}', "Field required"),
    "far future": (orjson.dumps({"seq": 3, "ts": FUTURE, "values": {"cod": 1.0}}), "future"),
    "unknown metric": (reading(4, cod=1.0).replace(b'"cod"', b'"xyz"'), "unknown metric"),
    "oversized": (b'{"seq": 5, "pad": "' + b"x" * 70_000 + b'"}', "exceeds"),
    "not utf-8": (b"\xff\xfe\x00garbage", "JSON"),
}


def test_bad_readings_are_dead_lettered_and_good_ones_stored(
    migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    seed_nodes(migrated_url)
    node = NODES[0]
    seq = 100
    with (
        running(ingest_settings(migrated_url, mqtt_url, topics)) as worker,
        publisher(mqtt_url) as pub,
    ):
        for payload, _ in BAD_READINGS.values():
            pub.publish(topics.readings(node), reading(seq))
            pub.publish(topics.readings(node), payload)
            seq += 1
        pub.publish(topics.readings("ghost-node"), reading(seq))
        pub.publish(topics.status("ghost-node"), b'{"state": "online"}')
        pub.publish(f"{topics.base}/nodes/bad node!/readings", reading(seq + 1))
        pub.publish(topics.readings(node), reading(seq + 2))
        pub.flush()
        expected_dead = len(BAD_READINGS) + 3
        wait_until(
            lambda: worker.stats.dead_lettered == expected_dead, what=f"{expected_dead} dead"
        )
        wait_until(lambda: worker.stats.stored == len(BAD_READINGS) + 1)
        # Redelivered or republished, a bad message is still stored once.
        for payload, _ in BAD_READINGS.values():
            pub.publish(topics.readings(node), payload)
        pub.flush()
        wait_until(lambda: worker.stats.received == 3 * len(BAD_READINGS) + 4)
        wait_until(lambda: worker.stats.lag_s == 0.0)
    assert count(migrated_url, "readings") == len(BAD_READINGS) + 1
    assert count(migrated_url, "dead_letters") == expected_dead
    stored = rows(
        migrated_url,
        "SELECT source, topic, reason, payload, encoding FROM dead_letters ORDER BY id",
    )
    assert all(source == "cloud-ingest" for source, *_ in stored)
    letters = {payload: (reason, encoding) for _, _, reason, payload, encoding in stored}
    for name, (payload, fragment) in BAD_READINGS.items():
        try:
            key, encoding = payload.decode(), "utf-8"
        except UnicodeDecodeError:
            key, encoding = base64.b64encode(payload).decode(), "base64"
        assert key in letters, name
        assert fragment in letters[key][0], (name, letters[key][0])
        assert letters[key][1] == encoding
    reasons = {topic: reason for _, topic, reason, _, _ in stored}
    assert reasons[topics.readings("ghost-node")] == "unknown node 'ghost-node'"
    assert reasons[topics.status("ghost-node")] == "unknown node 'ghost-node'"
    assert "not a" in reasons[f"{topics.base}/nodes/bad node!/readings"]


def test_forwarded_dead_letters_are_stored_once(
    migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    letter = dead_letter("gw-01", "envgrid/v1/nodes/x/readings", b"\x00\x01", "bad JSON")
    payload = letter.model_dump_json().encode()
    malformed = b'{"source": "gw-01", "reason": "no topic"}'
    with (
        running(ingest_settings(migrated_url, mqtt_url, topics)) as worker,
        publisher(mqtt_url) as pub,
    ):
        for _ in range(2):
            pub.publish(topics.dead_letter("gw-01"), payload)
            pub.publish(topics.dead_letter("gw-01"), malformed)
        pub.flush()
        wait_until(lambda: worker.stats.received == 4)
        wait_until(lambda: worker.stats.lag_s == 0.0)
    stored = rows(
        migrated_url,
        "SELECT fingerprint, source, topic, reason, payload, encoding, received_at "
        "FROM dead_letters ORDER BY id",
    )
    assert len(stored) == 2
    forwarded = next(r for r in stored if r[1] == "gw-01")
    assert forwarded == (
        hashlib.sha256(payload).digest(),
        "gw-01",
        letter.topic,
        letter.reason,
        base64.b64encode(b"\x00\x01").decode(),  # PostgreSQL text cannot hold NUL
        "base64",
        letter.received_at,
    )
    refused = next(r for r in stored if r[1] == "cloud-ingest")
    assert refused[2] == topics.dead_letter("gw-01")
    assert refused[3].startswith("malformed dead letter: ")
    assert refused[4] == malformed.decode()
