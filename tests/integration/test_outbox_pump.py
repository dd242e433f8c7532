"""The store-and-forward engine through a real Mosquitto: what it gave to nobody goes again."""

from __future__ import annotations

from pathlib import Path

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.outbox import Outbox, Sender
from envgrid_common.topics import Topics
from tests.integration.test_edge_agent import readings
from tests.mqtt_clients import Subscriber
from tests.polling import wait_until


def test_what_the_broker_gave_to_nobody_is_kept_and_goes_once_someone_subscribes(
    tmp_path: Path, own_broker: MosquittoBroker, topics: Topics
) -> None:
    node = "pump-nobody-1"
    outbox = Outbox(tmp_path / "box.sqlite", durability="normal")
    address = BrokerAddress.parse(own_broker.url)
    sender = Sender(outbox, address, "pump-nobody", window=10, resend_undelivered=True).start()
    sub: Subscriber | None = None
    try:
        wait_until(lambda: sender.connected, 10, "sender connected")
        for message in readings(topics.readings(node), range(1, 6)):
            sender.submit([message])
        wait_until(lambda: sender.pump.stats().undelivered >= 5, 10, "PUBACKs saying nobody")
        assert len(outbox) == 5, "delivered to nobody: kept"
        sub = Subscriber(own_broker.url, topics).start()
        wait_until(lambda: sub is not None and len(sub.seqs(node)) == 5, 15, "sent again")
        got = [r.seq for r in sub.readings(node)]
        assert got[:5] == [1, 2, 3, 4, 5], "in order"
        wait_until(lambda: len(outbox) == 0, 10, "deleted once delivered")
    finally:
        sender.stop(1)
        outbox.close()
        if sub is not None:
            sub.stop()
