"""The gateway bridge with a fake forwarder: routing, dead letters, when the source is acked."""

from __future__ import annotations

import base64
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from envgrid_common.topics import NodeChannel, NodeTopic, Topics
from envgrid_gateway.adapters import Inbound
from envgrid_gateway.bridge import MAX_DEAD_LETTER_BYTES, Bridge
from envgrid_gateway.outbound import Done, Outgoing
from envgrid_gateway.stats import QuietLog, Stats, reason_class

LOCAL = Topics("t-local/envgrid")
UPLINK = Topics("t-up/envgrid")


@dataclass
class FakeForwarder:
    """Records what it is given; the test settles each message when it likes."""

    sent: list[tuple[Outgoing, Done]] = field(default_factory=list)

    def send(self, message: Outgoing, done: Done) -> None:
        self.sent.append((message, done))

    def settle(self, refused: str | None = None) -> None:
        """Settle everything not yet settled, oldest first."""
        pending, self.sent = self.sent, []
        for _, done in pending:
            done(refused)


@dataclass
class Source:
    """Builds inbound messages and counts their acks."""

    acked: list[str] = field(default_factory=list)

    def message(self, topic: str, payload: bytes, retain: bool = False) -> Inbound:
        return Inbound(topic, payload, retain, lambda: self.acked.append(topic))


def reading(seq: int = 1, **changes: object) -> bytes:
    body: dict[str, object] = {
        "seq": seq,
        "ts": datetime.now(UTC).isoformat(),
        "values": {"cod": 35.2},
    }
    body.update(changes)
    return json.dumps(body).encode()


def original(letter: dict[str, str]) -> bytes:
    """The refused bytes a dead letter carries."""
    body = letter["payload"]
    return base64.b64decode(body) if letter["encoding"] == "base64" else body.encode()


@pytest.fixture
def forwarder() -> FakeForwarder:
    return FakeForwarder()


@pytest.fixture
def bridge(forwarder: FakeForwarder) -> Bridge:
    return Bridge("gw-1", LOCAL, UPLINK, forwarder)


def test_valid_reading_goes_up_unchanged_and_is_acked_only_when_settled(
    bridge: Bridge, forwarder: FakeForwarder
) -> None:
    source = Source()
    payload = reading()
    bridge(source.message(LOCAL.readings("n1"), payload))
    [(out, _)] = forwarder.sent
    assert out == Outgoing(UPLINK.readings("n1"), payload, retain=False)
    assert out.payload is payload
    assert source.acked == []
    assert bridge.stats.get("pending") == 1
    forwarder.settle()
    assert source.acked == [LOCAL.readings("n1")]
    assert bridge.stats.snapshot() == {"received": 1, "pending": 0, "forwarded": 1}


def test_retained_status_stays_retained_and_snapshots_keep_their_event(
    bridge: Bridge, forwarder: FakeForwarder
) -> None:
    source = Source()
    bridge(source.message(LOCAL.status("n1"), b'{"state":"online"}', retain=True))
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256))
    bridge(source.message(LOCAL.snapshot("cam1", "ev-7"), jpeg))
    status, snapshot = (out for out, _ in forwarder.sent)
    assert status == Outgoing(UPLINK.status("n1"), b'{"state":"online"}', retain=True)
    assert snapshot == Outgoing(UPLINK.snapshot("cam1", "ev-7"), jpeg)


def test_empty_retained_status_clears_upstream_too(
    bridge: Bridge, forwarder: FakeForwarder
) -> None:
    bridge(Source().message(LOCAL.status("n1"), b"", retain=True))
    [(out, _)] = forwarder.sent
    assert out == Outgoing(UPLINK.status("n1"), b"", retain=True)


@pytest.mark.parametrize(
    ("topic", "payload", "needle", "kind"),
    [
        (LOCAL.readings("n1"), b"{not json", "Invalid JSON", "bad_json"),
        (LOCAL.readings("n1"), reading(seq="42"), "seq", "schema"),  # type: ignore[arg-type]
        (LOCAL.readings("n1"), reading(values={"nope": 1.0}), "unknown metric", "unknown_metric"),
        (LOCAL.readings("n1"), reading().replace(b"35.2", b"NaN"), "finite", "not_finite"),
        (
            LOCAL.readings("n1"),
            reading(ts=(datetime.now(UTC) + timedelta(days=3)).isoformat()),
            "future",
            "future_ts",
        ),
        (LOCAL.snapshot("c1", "e1"), b"\x89PNG....", "JPEG", "not_jpeg"),
        (LOCAL.readings("n1"), b" " * 70_000, "exceeds", "too_large"),
        (LOCAL.status("n1"), b"", "Invalid JSON", "bad_json"),  # empty but not retained
    ],
)
def test_malformed_messages_become_dead_letters_then_are_acked(
    bridge: Bridge, forwarder: FakeForwarder, topic: str, payload: bytes, needle: str, kind: str
) -> None:
    source = Source()
    bridge(source.message(topic, payload))
    [(out, _)] = forwarder.sent
    assert out.topic == UPLINK.dead_letter("gw-1")
    assert not out.retain
    letter = json.loads(out.payload)
    assert needle in letter["reason"]
    assert letter["topic"] == topic
    assert original(letter) == payload
    assert source.acked == []
    forwarder.settle()
    assert source.acked == [topic]
    assert bridge.stats.get("dead_lettered") == 1
    assert bridge.stats.get(f"rejected_{kind}") == 1
    assert bridge.stats.get("forwarded") == 0


def test_binary_garbage_is_kept_as_base64(bridge: Bridge, forwarder: FakeForwarder) -> None:
    bridge(Source().message(LOCAL.readings("n1"), b"\xff\xfe\x00"))
    letter = json.loads(forwarder.sent[0][0].payload)
    assert letter["encoding"] == "base64"
    assert original(letter) == b"\xff\xfe\x00"


def test_huge_dead_letters_are_truncated(bridge: Bridge, forwarder: FakeForwarder) -> None:
    bridge(Source().message(LOCAL.snapshot("c1", "e1"), b"x" * (MAX_DEAD_LETTER_BYTES + 10)))
    letter = json.loads(forwarder.sent[0][0].payload)
    assert len(letter["payload"]) == MAX_DEAD_LETTER_BYTES
    assert "bytes kept" in letter["reason"]


def test_uplink_refusal_turns_into_a_dead_letter(bridge: Bridge, forwarder: FakeForwarder) -> None:
    source = Source()
    bridge(source.message(LOCAL.readings("n1"), reading()))
    forwarder.settle(refused="Not authorized")
    [(out, _)] = forwarder.sent
    assert out.topic == UPLINK.dead_letter("gw-1")
    assert "Not authorized" in json.loads(out.payload)["reason"]
    assert source.acked == []
    forwarder.settle()
    assert source.acked == [LOCAL.readings("n1")]
    assert bridge.stats.get("uplink_refused") == 1


def test_a_refused_dead_letter_is_acked_and_counted_lost(
    bridge: Bridge, forwarder: FakeForwarder
) -> None:
    source = Source()
    bridge(source.message(LOCAL.readings("n1"), b"junk"))
    forwarder.settle(refused="Quota exceeded")
    assert source.acked == [LOCAL.readings("n1")]
    assert bridge.stats.get("lost") == 1


def test_reason_classes() -> None:
    assert reason_class("not an envgrid x/v1 node topic") == "bad_topic"
    assert reason_class("ts 2000-01-01 is older than 400 days: unset clock?") == "stale_ts"
    assert reason_class("something else entirely") == "schema"


def test_quiet_log_holds_back_a_flood(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    quiet = QuietLog(logging.getLogger("test.quiet"), burst=3, window_s=10, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="test.quiet"):
        for i in range(10):
            quiet.info("letter %d", i)
        assert [r.getMessage() for r in caplog.records] == ["letter 0", "letter 1", "letter 2"]
        now[0] = 11.0
        quiet.flush()
        assert "7 more" in caplog.records[-1].getMessage()
        quiet.info("letter %d", 10)
        assert caplog.records[-1].getMessage() == "letter 10"


def test_status_goes_up_retained_even_when_the_flag_was_lost(
    bridge: Bridge, forwarder: FakeForwarder
) -> None:
    bridge(Source().message(LOCAL.status("n1"), b'{"state":"online"}', retain=False))
    assert forwarder.sent[0][0].retain


def test_each_message_carries_its_topic_as_parsed_once(
    bridge: Bridge, forwarder: FakeForwarder
) -> None:
    source = Source()
    bridge(source.message(LOCAL.readings("n1"), reading()))
    bridge(source.message(LOCAL.snapshot("cam1", "ev-7"), b"\xff\xd8"))
    bridge(source.message(LOCAL.status("n1"), b"", retain=True))  # a retained status cleared
    bridge(source.message(LOCAL.readings("n1"), b"not json"))
    parsed = [out.parsed for out, _ in forwarder.sent]
    assert parsed == [
        NodeTopic("n1", NodeChannel.READINGS),
        NodeTopic("cam1", NodeChannel.SNAPSHOTS, "ev-7"),
        NodeTopic("n1", NodeChannel.STATUS),
        None,  # a dead letter
    ]


def test_counts_from_several_threads_add_up() -> None:
    """Each thread counts on its own; a read sums them, a counter gone to zero included."""
    stats = Stats()

    def count() -> None:
        for _ in range(1000):
            stats.add("received")
            stats.add("pending")
        stats.add("pending", -1000)

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    stats.add("pending")
    stats.add("pending", -1)
    for thread in threads:
        thread.join()
    assert stats.get("received") == 4000
    assert stats.snapshot() == {"received": 4000, "pending": 0}
