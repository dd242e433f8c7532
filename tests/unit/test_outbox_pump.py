"""The store-and-forward engine against a fake publisher: order, window, PUBACKs, 0x10, refusals."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envgrid_common.mqtt import PublishRefused
from envgrid_common.outbox import (
    DELIVERED,
    Bounds,
    Kind,
    Outbox,
    OutMessage,
    Puback,
    Pump,
    Row,
    Settle,
    Settlements,
)

NOBODY = Puback(0x10, "No matching subscribers")
TOO_BIG = Puback(0x95, "Packet too large")


class FakePublisher:
    """Records what it is given; the test settles each with the PUBACK it chooses."""

    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self.sent: list[tuple[str, bytes, bool, Settle]] = []
        self.settled = 0
        self.refuse_topics: set[str] = set()

    def publish(self, topic: str, payload: bytes, retain: bool, settle: Settle) -> None:
        if topic in self.refuse_topics:
            raise PublishRefused("payload too large for the client")
        self.sent.append((topic, payload, retain, settle))

    def settle(self, n: int | None = None, puback: Puback = DELIVERED) -> None:
        """Settle the oldest ``n`` unsettled messages (all by default)."""
        end = len(self.sent) if n is None else self.settled + n
        batch, self.settled = self.sent[self.settled : end], end
        for *_, settle in batch:
            settle(puback)

    @property
    def waiting(self) -> int:
        return len(self.sent) - self.settled

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(payload) for _, payload, _, _ in self.sent]

    def seqs(self) -> list[int]:
        return [body.get("seq", -1) for body in self.bodies()]


def reading(seq: int) -> OutMessage:
    return OutMessage(Kind.READING, "t/n1/readings", json.dumps({"seq": seq}).encode())


def status(state: str) -> OutMessage:
    body = json.dumps({"state": state}).encode()
    return OutMessage(Kind.STATUS, "t/n1/status", body, retain=True, key="n1")


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "box.sqlite", durability="normal") as box:
        yield box


def test_rows_go_in_order_and_leave_only_on_their_puback(outbox: Outbox) -> None:
    publisher = FakePublisher()
    pump = Pump(outbox, publisher)
    for seq in range(1, 6):
        pump.put([reading(seq)])
    assert pump.step() == 5
    assert publisher.seqs() == [1, 2, 3, 4, 5]
    assert len(outbox) == 5, "nothing leaves before its PUBACK"
    publisher.settle(2)
    pump.step()
    assert len(outbox) == 3
    assert pump.stats().acked == 2
    publisher.settle()
    pump.step()
    assert len(outbox) == 0
    assert pump.acked[Kind.READING] == 5
    assert pump.in_flight == 0


def test_a_pending_status_goes_ahead_of_older_readings(outbox: Outbox) -> None:
    publisher = FakePublisher(connected=False)
    pump = Pump(outbox, publisher)
    pump.put([reading(1), reading(2)])
    pump.put([status("online")])
    publisher.connected = True
    pump.step()
    assert publisher.bodies() == [
        {"state": "online"},
        *({"seq": s, "historical": True} for s in (1, 2)),
    ]


def test_at_most_a_window_is_in_flight(outbox: Outbox) -> None:
    publisher = FakePublisher()
    pump = Pump(outbox, publisher, window=3)
    pump.put([reading(seq) for seq in range(1, 11)])
    pump.step()
    pump.step()
    assert len(publisher.sent) == 3
    assert pump.in_flight == 3
    publisher.settle(2)
    pump.step()
    assert len(publisher.sent) == 5
    assert pump.in_flight == 3
    while len(publisher.sent) < 10:
        publisher.settle()
        pump.step()
    assert publisher.seqs() == list(range(1, 11))


def test_what_waited_is_historical_and_what_follows_it_too(outbox: Outbox) -> None:
    publisher = FakePublisher(connected=False)
    pump = Pump(outbox, publisher, window=2)
    pump.put([reading(1), reading(2), reading(3)])  # stored offline
    publisher.connected = True
    pump.step()
    pump.put([reading(4)])  # connected, but behind the backlog
    while len(publisher.sent) < 4:
        publisher.settle()
        pump.step()
    assert all(body["historical"] is True for body in publisher.bodies())
    publisher.settle()
    pump.step()
    pump.put([reading(5)])  # the backlog is gone: live
    pump.step()
    assert publisher.bodies()[-1] == {"seq": 5}


def test_rows_stored_live_on_a_lost_connection_go_historical(outbox: Outbox) -> None:
    publisher = FakePublisher()
    pump = Pump(outbox, publisher, window=1)
    pump.put([reading(1), reading(2)])
    pump.step()
    publisher.connected = False
    pump.step()
    publisher.connected = True
    publisher.settle()
    pump.step()
    assert publisher.bodies() == [{"seq": 1}, {"seq": 2, "historical": True}]


def test_statuses_are_never_marked(outbox: Outbox) -> None:
    publisher = FakePublisher(connected=False)
    pump = Pump(outbox, publisher)
    pump.put([status("offline")])
    publisher.connected = True
    pump.step()
    assert publisher.bodies() == [{"state": "offline"}]


def test_delivered_to_nobody_is_kept_and_sent_again_in_order(outbox: Outbox) -> None:
    publisher = FakePublisher()
    counted: list[int] = []
    pump = Pump(outbox, publisher, retry_s=0.2, on_undelivered=counted.append)
    pump.put([reading(1), reading(2), reading(3)])
    pump.step()
    publisher.settle(1)
    publisher.settle(puback=NOBODY)
    pump.put([reading(4)])
    pump.step()
    assert len(publisher.sent) == 3, "nothing new while the broker has nobody to give it to"
    assert len(outbox) == 3
    assert pump.stats().held == 2
    time.sleep(0.25)
    pump.step()
    assert publisher.seqs()[3:] == [2, 3, 4]
    publisher.settle()
    pump.step()
    assert len(outbox) == 0
    assert counted == [2]
    assert pump.stats().undelivered == 2


def test_a_retained_message_delivered_to_nobody_counts_as_delivered(outbox: Outbox) -> None:
    publisher = FakePublisher()
    pump = Pump(outbox, publisher)
    pump.put([status("online")])
    pump.step()
    publisher.settle(puback=NOBODY)
    pump.step()
    assert len(outbox) == 0
    assert pump.stats().held == 0


def test_without_resend_delivered_to_nobody_is_done(outbox: Outbox) -> None:
    publisher = FakePublisher()
    pump = Pump(outbox, publisher, resend_undelivered=False)
    pump.put([reading(1)])
    pump.step()
    publisher.settle(puback=NOBODY)
    pump.step()
    assert len(outbox) == 0


def test_a_refused_row_is_deleted_counted_and_replaced(outbox: Outbox) -> None:
    publisher = FakePublisher()
    refusals: list[tuple[int, Puback]] = []

    def replace(row: Row, why: Puback) -> list[OutMessage]:
        refusals.append((row.id, why))
        return [OutMessage(Kind.DEAD_LETTER, "t/dead", b'{"reason": "refused"}')]

    pump = Pump(outbox, publisher, replace=replace)
    pump.put([reading(1), reading(2)])
    pump.step()
    publisher.settle(1, TOO_BIG)
    publisher.settle()
    pump.step()
    assert [why for _, why in refusals] == [TOO_BIG]
    assert publisher.sent[-1][0] == "t/dead", "the replacement is queued and sent"
    assert pump.stats().refused == 1
    assert outbox.stats().refused == 1
    publisher.settle()
    pump.step()
    assert len(outbox) == 0


def test_a_message_the_client_will_not_take_is_refused_not_retried(outbox: Outbox) -> None:
    publisher = FakePublisher()
    publisher.refuse_topics.add("t/huge")
    pump = Pump(outbox, publisher)
    pump.put([OutMessage(Kind.DETECTION, "t/huge", b"{}"), reading(1)])
    pump.step()
    pump.step()
    assert publisher.seqs() == [1], "the queue is not blocked behind it"
    assert outbox.stats().refused == 1
    publisher.settle()
    pump.step()
    assert len(outbox) == 0


def test_bounds_drop_the_oldest_readings_but_not_what_is_in_flight(tmp_path: Path) -> None:
    with Outbox(tmp_path / "b.sqlite", Bounds(max_rows=3), durability="normal") as outbox:
        publisher = FakePublisher()
        pump = Pump(outbox, publisher, window=1)
        pump.put([reading(1)])
        pump.step()  # 1 is in flight
        publisher.connected = False
        pump.put([reading(seq) for seq in range(2, 7)])
        assert outbox.stats().dropped_full == 3
        publisher.connected = True
        while len(outbox):
            publisher.settle()
            pump.step()
        assert publisher.seqs() == [1, 5, 6]


def test_a_new_publisher_gets_what_the_old_one_had_in_flight(outbox: Outbox) -> None:
    first = FakePublisher()
    pump = Pump(outbox, first, window=2)
    pump.put([reading(seq) for seq in range(1, 4)])
    pump.step()
    assert pump.attach(None) == 2
    first.settle()  # PUBACKs of the old connection change nothing
    second = FakePublisher()
    pump.attach(second)
    pump.step()
    assert second.seqs() == [1, 2]
    assert all(body["historical"] is True for body in second.bodies())
    while len(outbox):
        second.settle()
        pump.step()
    assert second.seqs() == [1, 2, 3]


def test_nothing_is_handed_over_while_disconnected_or_paused(outbox: Outbox) -> None:
    publisher = FakePublisher(connected=False)
    pump = Pump(outbox, publisher)
    pump.put([reading(1)])
    assert pump.step() == 0
    pump.pause()
    publisher.connected = True
    assert pump.step() == 0
    assert publisher.sent == []


def test_a_puback_before_publish_returns_settles_when_the_id_is_known() -> None:
    settlements: Settlements[Puback] = Settlements()
    got: list[Puback] = []
    settlements.puback(7, NOBODY)  # the network thread was faster than publish()
    settlements.expect(7, got.append)
    settlements.expect(8, got.append)
    assert got == [NOBODY]
    settlements.puback(8, DELIVERED)
    assert got == [NOBODY, DELIVERED]
    assert len(settlements) == 0
