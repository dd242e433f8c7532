"""The wire contract: what a reading may and may not be, and the topic grammar."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from envgrid_common.messages import Reading
from envgrid_common.metrics import BY_HJ212_CODE, METRICS
from envgrid_common.topics import NodeChannel, Topics, shared
from envgrid_common.validation import MAX_PAYLOAD_BYTES, Rejected, validate

NOW = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
TOPICS = Topics()
TOPIC = TOPICS.readings("luxi-farm-01")


def body(**fields: object) -> bytes:
    base: dict[str, object] = {
        "seq": 42,
        "ts": "2026-05-01T08:00:00+08:00",
        "values": {"cod": 35.2},
    }
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...})


def reason(payload: bytes, topic: str = TOPIC) -> str:
    with pytest.raises(Rejected) as caught:
        validate(TOPICS, topic, payload, NOW)
    return caught.value.reason


def test_documented_example_is_valid() -> None:
    payload = (
        b'{"seq": 42, "ts": "2026-05-01T08:00:00+08:00", "values": {"cod": 35.2, "nh3n": 1.4}}'
    )
    accepted = validate(TOPICS, TOPIC, payload, NOW)
    assert accepted.topic.node_id == "luxi-farm-01"
    assert isinstance(accepted.message, Reading)
    assert accepted.message.values == {"cod": 35.2, "nh3n": 1.4}
    assert accepted.message.ts == datetime(2026, 5, 1, tzinfo=UTC)


def test_flags_and_historical_are_optional_and_checked() -> None:
    ok = validate(TOPICS, TOPIC, body(flags={"cod": "N"}, historical=True), NOW).message
    assert isinstance(ok, Reading)
    assert ok.historical
    assert "flags for metrics without a value" in reason(body(flags={"tp": "N"}))
    assert "flags.cod" in reason(body(flags={"cod": "X"}))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"not json", "Invalid JSON"),
        (body(seq="42"), "seq"),
        (body(seq=-1), "seq"),
        (body(seq=1.5), "seq"),
        (body(ts=...), "ts: Field required"),
        (body(ts="2026-05-01T08:00:00"), "timezone"),
        (body(values={}), "values"),
        (body(values={"cod": "35"}), "values.cod"),
        (body(values={"bogus": 1}), "unknown metric 'bogus'"),
        (b'{"seq": 1, "ts": "2026-05-01T08:00:00Z", "values": {"cod": NaN}}', "finite"),
        (b'{"seq": 1, "ts": "2026-05-01T08:00:00Z", "values": {"cod": Infinity}}', "finite"),
        (body(extra=1), "extra"),
        (body(ts="2000-02-02T00:00:00+08:00"), "unset clock"),
        (body(ts="2030-01-01T00:00:00Z"), "future"),
        (b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", "exceeds"),
    ],
)
def test_malformed_readings_are_rejected_with_a_reason(payload: bytes, expected: str) -> None:
    assert expected in reason(payload)


def test_topics_round_trip_and_refuse_strangers() -> None:
    topics = Topics("t-1/envgrid")
    assert topics.readings("n1") == "t-1/envgrid/v1/nodes/n1/readings"
    assert topics.parse_node_topic(topics.status("n1")).channel is NodeChannel.STATUS  # type: ignore[union-attr]
    snap = topics.parse_node_topic(topics.snapshot("cam-1", "ev-9"))
    assert snap is not None
    assert (snap.node_id, snap.event_id) == ("cam-1", "ev-9")
    for stranger in (
        "envgrid/v1/nodes/n1/readings",
        "t-1/envgrid/v1/nodes/n1/bogus",
        "t-1/envgrid/v1/nodes/n1/readings/x",
        "t-1/envgrid/v1/nodes/bad id/readings",
    ):
        assert topics.parse_node_topic(stranger) is None
    assert (
        shared("g", topics.any_node(NodeChannel.READINGS))
        == "$share/g/t-1/envgrid/v1/nodes/+/readings"
    )
    with pytest.raises(ValueError, match="node id"):
        topics.readings("a/b")
    with pytest.raises(ValueError, match="topic root"):
        Topics("bad/#")


def test_snapshots_must_be_jpeg() -> None:
    topic = TOPICS.snapshot("cam-1", "ev-1")
    assert validate(TOPICS, topic, b"\xff\xd8\xff\xe0rest", NOW).message is None
    assert "JPEG" in reason(b"GIF89a", topic)


def test_metric_catalogue_codes_are_unique() -> None:
    codes = [m.hj212_2017 for m in METRICS.values() if m.hj212_2017]
    assert len(codes) == len(set(codes))
    assert BY_HJ212_CODE["w01018"].name == "cod"
    assert BY_HJ212_CODE["060"].name == "nh3n"


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    offset_min=st.integers(min_value=-720, max_value=840),
    age_s=st.integers(min_value=0, max_value=300 * 86400),
    values=st.dictionaries(st.sampled_from(sorted(METRICS)), finite, min_size=1, max_size=8),
)
def test_any_well_formed_reading_round_trips(
    seq: int, offset_min: int, age_s: int, values: dict[str, float]
) -> None:
    from datetime import timezone

    ts = (NOW - timedelta(seconds=age_s)).astimezone(timezone(timedelta(minutes=offset_min)))
    payload = orjson.dumps({"seq": seq, "ts": ts.isoformat(), "values": values})
    message = validate(TOPICS, TOPIC, payload, NOW).message
    assert isinstance(message, Reading)
    assert message.seq == seq
    assert message.ts == ts
    assert all(
        math.isclose(message.values[k], v) or message.values[k] == v for k, v in values.items()
    )


def test_protocol_doc_lists_every_metric_with_unit_and_code() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    for metric in METRICS.values():
        row = next(
            (line for line in doc.splitlines() if line.startswith(f"| `{metric.name}` |")), ""
        )
        assert row, f"docs/protocol.md has no row for {metric.name}"
        assert f" {metric.unit} " in row
        assert (metric.hj212_2017 or "—") in row
