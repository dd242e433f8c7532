"""The gateway's disk buffer against a fake uplink: storage before acks, order, window, replay."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from envgrid_common.netloop import NetLoop
from envgrid_common.outbox import Bounds, Kind, Outbox, OutMessage
from envgrid_common.topics import NodeChannel, NodeTopic, Topics
from envgrid_gateway.buffer import SCHEMA_COUNTER, SCHEMA_VERSION, Buffer
from envgrid_gateway.outbound import NO_SUBSCRIBERS, Done, Outgoing
from envgrid_gateway.stats import Stats
from tests.polling import wait_until

UP = Topics("up/envgrid")
GATEWAY = "gw-1"
DEAD = UP.dead_letter(GATEWAY)


class FakeUplink:
    """Records what it is given; the test decides when and how each is settled."""

    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self._lock = threading.Lock()
        self.sent: list[tuple[Outgoing, Done]] = []
        self.settled = 0

    def send(self, message: Outgoing, done: Done) -> None:
        with self._lock:
            self.sent.append((message, done))

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self.sent) - self.settled

    def settle(self, n: int | None = None, refused: str | None = None) -> list[Outgoing]:
        """Settle the oldest ``n`` unsettled messages (all by default)."""
        with self._lock:
            end = len(self.sent) if n is None else self.settled + n
            batch = self.sent[self.settled : end]
            self.settled = end
        for _, done in batch:
            done(refused)
        return [message for message, _ in batch]

    def messages(self) -> list[Outgoing]:
        with self._lock:
            return [message for message, _ in self.sent]


class Acks:
    """The local side: which messages the buffer has said are safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: list[tuple[str, str | None]] = []

    def done(self, name: str) -> Done:
        def record(refused: str | None) -> None:
            with self._lock:
                self.outcomes.append((name, refused))

        return record

    def __len__(self) -> int:
        with self._lock:
            return len(self.outcomes)


def reading(node: str, seq: int) -> Outgoing:
    return Outgoing(UP.readings(node), json.dumps({"seq": seq, "values": {"cod": 1.0}}).encode())


def detection(node: str, seq: int) -> Outgoing:
    return Outgoing(UP.detections(node), json.dumps({"seq": seq, "kind": "smoke"}).encode())


def status(node: str, state: str) -> Outgoing:
    return Outgoing(UP.status(node), json.dumps({"state": state}).encode(), retain=True)


def letter(reason: str) -> Outgoing:
    return Outgoing(DEAD, json.dumps({"reason": reason}).encode())


def body(message: Outgoing) -> dict[str, Any]:
    decoded = json.loads(message.payload)
    assert isinstance(decoded, dict)
    return decoded


def seqs(messages: list[Outgoing]) -> list[int]:
    return [body(m).get("seq", -1) for m in messages]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.sqlite"


@pytest.fixture
def make(path: Path) -> Iterator[Callable[..., Buffer]]:
    """Buffers on the test's file, closed at the end (without waiting for anything)."""
    made: list[Buffer] = []

    def new(uplink: FakeUplink, **kwargs: Any) -> Buffer:
        kwargs.setdefault("gateway_id", GATEWAY)
        kwargs.setdefault("uplink_topics", UP)
        buffer = Buffer(uplink, path, durability="normal", **kwargs)
        made.append(buffer)
        return buffer.start()

    yield new
    for buffer in made:
        buffer.close()


def test_messages_go_up_in_order_and_leave_the_disk_when_confirmed(
    make: Callable[..., Buffer],
) -> None:
    uplink, acks = FakeUplink(), Acks()
    buffer = make(uplink)
    for seq in range(1, 21):
        buffer.send(reading("n1", seq), acks.done(f"r{seq}"))
    wait_until(lambda: len(uplink.sent) == 20, what="everything handed to the uplink")
    assert seqs(uplink.messages()) == list(range(1, 21))
    assert len(acks) == 20
    assert all(refused is None for _, refused in acks.outcomes)
    assert len(buffer.outbox) == 20, "kept until the cloud broker confirms"
    uplink.settle()
    wait_until(lambda: len(buffer.outbox) == 0, what="confirmed rows deleted")
    assert buffer.stats().in_flight == 0


def test_at_most_a_window_is_in_flight(make: Callable[..., Buffer]) -> None:
    uplink, acks = FakeUplink(), Acks()
    buffer = make(uplink, window=3)
    for seq in range(1, 11):
        buffer.send(reading("n1", seq), acks.done(str(seq)))
    wait_until(lambda: len(uplink.sent) == 3)
    time.sleep(0.15)  # several pump rounds: nothing more may go
    assert len(uplink.sent) == 3
    assert buffer.stats().in_flight == 3
    uplink.settle(2)
    wait_until(lambda: len(uplink.sent) == 5)
    time.sleep(0.15)
    assert uplink.waiting == 3
    while len(uplink.sent) < 10:
        uplink.settle()
        wait_until(lambda: uplink.waiting > 0 or len(uplink.sent) == 10)
    assert seqs(uplink.messages()) == list(range(1, 11))


def test_local_ack_only_after_the_commit(make: Callable[..., Buffer]) -> None:
    uplink, acks = FakeUplink(connected=False), Acks()
    buffer = make(uplink)
    real_put = buffer.outbox.put
    failing = threading.Event()
    failing.set()
    calls = 0

    def put(*args: Any, **kwargs: Any) -> list[int]:
        nonlocal calls
        calls += 1
        if failing.is_set():
            raise OSError("disk full")
        return real_put(*args, **kwargs)

    buffer.outbox.put = put  # type: ignore[method-assign]
    buffer.send(reading("n1", 1), acks.done("r1"))
    wait_until(lambda: calls >= 1, what="a failed commit")
    time.sleep(0.1)
    assert len(acks) == 0, "a message that is not on disk must stay unacknowledged"
    failing.clear()
    wait_until(lambda: len(acks) == 1, timeout_s=5, what="the retried commit")
    assert acks.outcomes == [("r1", None)]
    assert len(buffer.outbox) == 1


def test_stored_messages_survive_when_acknowledged(make: Callable[..., Buffer], path: Path) -> None:
    uplink, acks = FakeUplink(connected=False), Acks()
    buffer = make(uplink)
    for seq in range(1, 6):
        buffer.send(reading("n1", seq), acks.done(str(seq)))
    wait_until(lambda: len(acks) == 5)
    buffer.close()
    with Outbox(path) as box:
        assert [json.loads(r.payload)["seq"] for r in box.take(10)] == [1, 2, 3, 4, 5]


def test_many_sends_share_one_transaction(make: Callable[..., Buffer]) -> None:
    uplink, acks = FakeUplink(connected=False), Acks()
    buffer = make(uplink)
    real_put = buffer.outbox.put
    entered, release = threading.Event(), threading.Event()
    batches: list[int] = []

    def put(messages: Any, **kwargs: Any) -> list[int]:
        batches.append(len(messages))
        entered.set()
        release.wait(5)
        return real_put(messages, **kwargs)

    buffer.outbox.put = put  # type: ignore[method-assign]
    buffer.send(reading("n1", 0), acks.done("first"))
    assert entered.wait(5)
    for seq in range(1, 101):
        buffer.send(reading("n1", seq), acks.done(str(seq)))
    release.set()
    wait_until(lambda: len(acks) == 101)
    assert batches == [1, 100]


def test_backlog_goes_out_marked_historical_then_live_again(make: Callable[..., Buffer]) -> None:
    uplink, acks = FakeUplink(connected=False), Acks()
    buffer = make(uplink)
    backlog = [
        reading("n1", 1),
        status("n1", "offline"),
        detection("n2", 7),
        letter("bad json"),
        Outgoing(UP.snapshot("n2", "ev-1"), b"\xff\xd8jpeg"),
        reading("n1", 2),
    ]
    for i, message in enumerate(backlog):
        buffer.send(message, acks.done(str(i)))
    wait_until(lambda: len(acks) == len(backlog), what="all stored and acknowledged")
    time.sleep(0.1)
    assert uplink.sent == [], "nothing is handed over while the uplink is down"

    uplink.connected = True
    wait_until(lambda: len(uplink.sent) == len(backlog))
    sent = uplink.messages()
    assert [m.topic for m in sent] == [m.topic for m in backlog], "in order, statuses included"
    assert body(sent[0]) == {**body(backlog[0]), "historical": True}
    assert body(sent[2]) == {**body(backlog[2]), "historical": True}
    assert body(sent[5]) == {**body(backlog[5]), "historical": True}
    for i in (1, 3, 4):  # statuses, dead letters and snapshots have no such field
        assert sent[i] == backlog[i]

    uplink.settle()
    wait_until(lambda: len(buffer.outbox) == 0)
    buffer.send(reading("n1", 3), acks.done("live"))
    wait_until(lambda: len(uplink.sent) == len(backlog) + 1)
    assert uplink.messages()[-1] == reading("n1", 3), "live again once the backlog is gone"


def test_messages_behind_a_backlog_are_historical_too(make: Callable[..., Buffer]) -> None:
    uplink, acks = FakeUplink(connected=False), Acks()
    buffer = make(uplink, window=2)
    for seq in range(1, 5):
        buffer.send(reading("n1", seq), acks.done(str(seq)))
    wait_until(lambda: len(acks) == 4)
    uplink.connected = True
    wait_until(lambda: len(uplink.sent) == 2)
    buffer.send(reading("n1", 5), acks.done("5"))  # the backlog is still ahead of it
    wait_until(lambda: len(acks) == 5)
    while len(uplink.sent) < 5:
        uplink.settle()
        wait_until(lambda: uplink.waiting > 0 or len(uplink.sent) == 5)
    assert seqs(uplink.messages()) == [1, 2, 3, 4, 5]
    assert all(body(m).get("historical") is True for m in uplink.messages())


def test_rows_left_from_an_earlier_connection_are_historical(make: Callable[..., Buffer]) -> None:
    uplink, acks = FakeUplink(), Acks()
    buffer = make(uplink, window=1)
    for seq in range(1, 4):
        buffer.send(reading("n1", seq), acks.done(str(seq)))
    wait_until(lambda: len(uplink.sent) == 1)
    uplink.connected = False
    time.sleep(0.15)
    uplink.connected = True
    time.sleep(0.15)
    buffer.send(reading("n1", 4), acks.done("4"))  # behind rows left from the lost connection
    while len(uplink.sent) < 4:
        uplink.settle()
        wait_until(lambda: uplink.waiting > 0 or len(uplink.sent) == 4)
    sent = uplink.messages()
    assert seqs(sent) == [1, 2, 3, 4]
    assert "historical" not in body(sent[0]), "handed over live (the uplink resends it as is)"
    assert [body(m).get("historical") for m in sent[1:]] == [True, True, True]


def test_a_refused_message_becomes_a_dead_letter(make: Callable[..., Buffer]) -> None:
    uplink, acks, stats = FakeUplink(), Acks(), Stats()
    buffer = make(uplink, stats=stats)
    original = reading("n1", 1)
    buffer.send(original, acks.done("r1"))
    wait_until(lambda: len(uplink.sent) == 1)
    uplink.settle(refused="Quota exceeded")
    wait_until(lambda: len(uplink.sent) == 2, what="the dead letter")
    sent = uplink.messages()[1]
    assert sent.topic == DEAD
    dead = body(sent)
    assert dead["source"] == GATEWAY
    assert dead["topic"] == original.topic
    assert "uplink refused" in dead["reason"]
    assert "Quota exceeded" in dead["reason"]
    assert dead["payload"] == original.payload.decode()
    assert len(buffer.outbox) == 1, "the refused row is gone, its dead letter is kept"
    uplink.settle()
    wait_until(lambda: len(buffer.outbox) == 0)
    assert buffer.stats().refused == 1
    assert stats.get("dead_lettered") == 1
    assert stats.get("uplink_refused") == 1
    assert acks.outcomes == [("r1", None)]


def test_what_nobody_subscribed_to_is_held_and_sent_again_in_order(
    make: Callable[..., Buffer],
) -> None:
    uplink, acks, stats = FakeUplink(), Acks(), Stats()
    buffer = make(uplink, stats=stats)
    for seq in range(1, 6):
        buffer.send(reading("n1", seq), acks.done(str(seq)))
    buffer.send(status("n1", "online"), acks.done("status"))
    wait_until(lambda: len(uplink.sent) == 6)
    uplink.settle(2)  # delivered
    uplink.settle(refused=NO_SUBSCRIBERS)  # the broker had nobody for the rest
    for seq in range(6, 8):
        buffer.send(reading("n1", seq), acks.done(str(seq)))
    time.sleep(0.5)
    assert len(uplink.sent) == 6, "nothing new goes while nobody listens"
    assert len(buffer.outbox) == 5, "the undelivered readings are kept; the retained status is not"
    wait_until(lambda: len(uplink.sent) == 11, 5, "the undelivered rows and the new ones again")
    assert seqs(uplink.messages()[6:]) == [3, 4, 5, 6, 7]
    uplink.settle()
    wait_until(lambda: len(buffer.outbox) == 0)
    assert stats.get("uplink_undelivered") == 3
    assert stats.get("dead_lettered") == 0
    assert all(refused is None for _, refused in acks.outcomes)


def test_a_refused_dead_letter_is_counted_as_lost(make: Callable[..., Buffer]) -> None:
    uplink, acks, stats = FakeUplink(), Acks(), Stats()
    buffer = make(uplink, stats=stats)
    buffer.send(letter("bad json"), acks.done("d"))
    wait_until(lambda: len(uplink.sent) == 1)
    uplink.settle(refused="Not authorized")
    wait_until(lambda: len(buffer.outbox) == 0)
    time.sleep(0.1)
    assert len(uplink.sent) == 1, "a dead letter is not dead-lettered again"
    assert buffer.stats().lost == 1
    assert stats.get("lost") == 1


def test_a_restarted_buffer_resends_what_was_not_confirmed(
    make: Callable[..., Buffer],
) -> None:
    first, acks = FakeUplink(), Acks()
    buffer = make(first)
    for seq in range(1, 6):
        buffer.send(reading("n1", seq), acks.done(str(seq)))
    wait_until(lambda: len(first.sent) == 5)
    first.settle(2)
    wait_until(lambda: len(buffer.outbox) == 3)
    buffer.close()
    first.settle()  # confirmations after the end change nothing

    second = FakeUplink()
    again = make(second)
    wait_until(lambda: len(second.sent) == 3)
    assert seqs(second.messages()) == [3, 4, 5]
    assert all(body(m)["historical"] is True for m in second.messages())
    second.settle()
    wait_until(lambda: len(again.outbox) == 0)


def test_overflow_drops_the_oldest_readings_only(make: Callable[..., Buffer]) -> None:
    uplink, acks = FakeUplink(connected=False), Acks()
    buffer = make(uplink, bounds=Bounds(max_rows=5))
    kept = [
        status("n1", "offline"),
        letter("bad json"),
        status("n1", "online"),
        detection("n2", 1),
    ]
    buffer.send(reading("n1", 1), acks.done("r1"))
    for i, message in enumerate(kept):
        buffer.send(message, acks.done(f"k{i}"))
    for seq in range(2, 11):
        buffer.send(reading("n1", seq), acks.done(f"r{seq}"))
    wait_until(lambda: len(acks) == 14)
    stats = buffer.stats()
    assert stats.buffered == 5
    assert stats.dropped == 9

    uplink.connected = True
    wait_until(lambda: len(uplink.sent) == 5)
    sent = uplink.messages()
    assert [m.topic for m in sent[:4]] == [m.topic for m in kept], "none superseded or dropped"
    assert [body(m)["state"] for m in (sent[0], sent[2])] == ["offline", "online"]
    assert seqs(sent[4:]) == [10]


def test_detections_statuses_and_dead_letters_outgrow_the_bounds(
    make: Callable[..., Buffer],
) -> None:
    uplink, acks = FakeUplink(connected=False), Acks()
    buffer = make(uplink, bounds=Bounds(max_rows=2))
    messages = [status("n1", "online"), letter("x"), detection("n1", 1), letter("y")]
    for i, message in enumerate(messages):
        buffer.send(message, acks.done(str(i)))
    wait_until(lambda: len(acks) == 4)
    assert buffer.stats().buffered == 4
    assert buffer.stats().dropped == 0


def test_nothing_is_acknowledged_after_close(make: Callable[..., Buffer]) -> None:
    uplink, acks = FakeUplink(), Acks()
    buffer = make(uplink)
    buffer.close()
    buffer.send(reading("n1", 1), acks.done("late"))
    time.sleep(0.05)
    assert len(acks) == 0, "left for the township broker to redeliver"


def test_counters_report_depth_age_and_drops(make: Callable[..., Buffer]) -> None:
    uplink, acks = FakeUplink(connected=False), Acks()
    buffer = make(uplink, bounds=Bounds(max_rows=2))
    for seq in range(1, 4):
        buffer.send(reading("n1", seq), acks.done(str(seq)))
    wait_until(lambda: len(acks) == 3)
    counters = buffer.counters()
    assert counters["buffered"] == 2
    assert counters["buffer_dropped"] == 1
    assert counters["buffer_oldest_pending_s"] >= 0
    assert buffer.stats().oldest_pending_s is not None


def test_a_buffer_file_from_before_channel_kinds_loses_nothing(
    make: Callable[..., Buffer], path: Path
) -> None:
    backlog = [
        reading("n1", 1),
        status("n1", "offline"),
        detection("n2", 7),
        letter("bad json"),
        Outgoing(UP.snapshot("n2", "ev-1"), b"\xff\xd8jpeg"),
        status("n1", "online"),
    ]
    with Outbox(path) as old:  # as the previous version stored them: all but readings detections
        old.put(
            [
                OutMessage(Kind.READING if i == 0 else Kind.DETECTION, m.topic, m.payload, m.retain)
                for i, m in enumerate(backlog)
            ]
        )
    uplink = FakeUplink()
    buffer = make(uplink)
    wait_until(lambda: len(uplink.sent) == len(backlog))
    sent = uplink.messages()
    assert [m.topic for m in sent] == [m.topic for m in backlog], "in order, none superseded"
    assert body(sent[0]) == {**body(backlog[0]), "historical": True}
    assert body(sent[2]) == {**body(backlog[2]), "historical": True}
    for i in (1, 3, 4, 5):  # relabelled: statuses, dead letters and snapshots go unchanged
        assert sent[i] == backlog[i]
    buffer.close()
    with Outbox(path) as box:
        kinds = [row.kind for row in box.take(10)]
        assert kinds == [
            Kind.READING,
            Kind.RELAYED_STATUS,
            Kind.DETECTION,
            Kind.DEAD_LETTER,
            Kind.SNAPSHOT,
            Kind.RELAYED_STATUS,
        ]
        assert box.counter(SCHEMA_COUNTER) == SCHEMA_VERSION


def test_the_bridge_s_parsed_topic_decides_the_kind(make: Callable[..., Buffer]) -> None:
    uplink, acks = FakeUplink(connected=False), Acks()
    buffer = make(uplink, bounds=Bounds(max_rows=2))
    parsed = NodeTopic("n1", NodeChannel.STATUS)
    # An odd topic: only the parsed form says it is a status (never dropped, never marked).
    buffer.send(Outgoing("up/odd", b'{"state": "online"}', True, parsed), acks.done("s"))
    buffer.send(reading("n1", 1), acks.done("r1"))
    buffer.send(reading("n1", 2), acks.done("r2"))
    wait_until(lambda: len(acks) == 3)
    uplink.connected = True
    wait_until(lambda: len(uplink.sent) == 2)
    assert uplink.messages()[0] == Outgoing("up/odd", b'{"state": "online"}', True)
    assert seqs(uplink.messages()[1:]) == [2]


def test_a_loops_messages_reach_the_writer_at_the_round_end_and_are_settled_on_the_loop(
    make: Callable[..., Buffer],
) -> None:
    loop = NetLoop("test-buffer-loop").start()
    try:
        uplink = FakeUplink()
        buffer = make(uplink)
        buffer.batch_on(loop)
        settled_on: set[str] = set()
        done_order: list[int] = []

        def done(seq: int) -> Done:
            def record(refused: str | None) -> None:
                assert refused is None
                settled_on.add(threading.current_thread().name)
                done_order.append(seq)

            return record

        def one_round() -> int:
            for seq in range(1, 51):
                buffer.send(reading("n1", seq), done(seq))
            return buffer.stats().unwritten  # all held by the loop until its round ends

        assert loop.call(one_round) == 50
        wait_until(lambda: len(done_order) == 50, what="the round's messages stored")
        assert done_order == list(range(1, 51))
        assert settled_on == {"test-buffer-loop"}
        wait_until(lambda: len(uplink.sent) == 50, what="handed to the uplink")
        assert seqs(uplink.messages()) == list(range(1, 51))
        buffer.send(reading("n1", 51), done(51))  # not on the loop: straight to the writer
        assert buffer.flush(5)
        wait_until(lambda: done_order[-1:] == [51], what="the other thread's message stored")
    finally:
        loop.stop()
