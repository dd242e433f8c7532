"""In-order acknowledgement bookkeeping of the gateway's MQTT adapter."""

from __future__ import annotations

import random
import threading

from envgrid_gateway.acks import InOrderAcks


def make() -> tuple[InOrderAcks, list[int]]:
    sent: list[int] = []
    return InOrderAcks(sent.append), sent


def test_acks_wait_for_every_earlier_message() -> None:
    acks, sent = make()
    t1, t2, t3 = (acks.received(mid) for mid in (11, 12, 13))
    acks.complete(t3)
    acks.complete(t2)
    assert sent == []
    assert acks.pending == 3
    acks.complete(t1)
    assert sent == [11, 12, 13]
    assert acks.pending == 0


def test_only_the_completed_prefix_is_acked() -> None:
    acks, sent = make()
    tickets = [acks.received(mid) for mid in range(1, 6)]
    for index in (0, 1, 3):
        acks.complete(tickets[index])
    assert sent == [1, 2]
    acks.complete(tickets[2])
    assert sent == [1, 2, 3, 4]
    acks.complete(tickets[4])
    assert sent == [1, 2, 3, 4, 5]


def test_any_completion_order_acks_each_once_in_receipt_order() -> None:
    rng = random.Random(7)
    acks, sent = make()
    mids = [rng.randrange(1, 65536) for _ in range(500)]
    tickets = [acks.received(mid) for mid in mids]
    order = list(range(len(tickets)))
    rng.shuffle(order)
    for index in order:
        acks.complete(tickets[index])
        acks.complete(tickets[index])  # a second completion changes nothing
    assert sent == mids
    assert acks.acked == len(mids)


def test_after_a_reset_old_tickets_ack_nothing() -> None:
    acks, sent = make()
    old = [acks.received(mid) for mid in (1, 2)]
    assert acks.reset() == 2
    fresh = acks.received(1)  # the broker redelivers with the same packet id
    for ticket in old:
        acks.complete(ticket)
    assert sent == []
    acks.complete(fresh)
    assert sent == [1]
    assert acks.pending == 0


def test_wait_below_returns_once_acks_make_room() -> None:
    acks, _ = make()
    tickets = [acks.received(mid) for mid in (1, 2)]
    assert acks.wait_below(3, 0)
    assert not acks.wait_below(2, 0.01)
    done = threading.Timer(0.05, acks.complete, (tickets[0],))
    done.start()
    assert acks.wait_below(2, 5)
    done.join()
