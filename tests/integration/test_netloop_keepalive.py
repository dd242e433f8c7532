"""Keepalive on real brokers: a subscriber with a backlog it is slow to read, or does not read
on purpose, stays connected; a broker that goes silent is left and found again."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.mqtt import BrokerAddress, connect
from envgrid_common.netloop import NetLoop, new_loop_client
from tests.mqtt_clients import Publisher
from tests.polling import wait_until

KEEPALIVE_S = 2
BACKLOG = 3000


class Subscriber:
    """A persistent subscriber on a NetLoop that acks what it reads, unless told to hold off."""

    def __init__(self, url: str, topic: str, loop: NetLoop) -> None:
        self.address = BrokerAddress.parse(url)
        self.client = new_loop_client(
            f"ka-{uuid.uuid4().hex[:8]}", self.address, manual_ack=True, persistent=True
        )
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.topic = topic
        self.loop = loop
        self.reading = threading.Event()
        self.reading.set()
        self.received: list[bytes] = []
        self.connects = 0
        self.disconnects: list[str] = []
        self.message_cost_s = 0.0

    def start(self) -> Subscriber:
        connect(
            self.client,
            self.address,
            persistent=True,
            session_expiry_s=300,
            receive_maximum=100,
            keepalive=KEEPALIVE_S,
        )
        self.loop.add(self.client, self.reading.is_set)
        return self

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        self.connects += 1
        client.subscribe(self.topic, qos=1)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.disconnects.append(str(reason))

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if self.message_cost_s:
            time.sleep(self.message_cost_s)  # a busy consumer on the network thread
        self.received.append(bytes(message.payload))
        client.ack(message.mid, 1)


def backlog(url: str, topic: str, n: int = BACKLOG) -> list[bytes]:
    sent = [f"m{i:05d}".encode() for i in range(n)]
    publisher = Publisher(url, background=False).start()
    try:
        publisher.publish_all((topic, p) for p in sent)
        publisher.flush()
    finally:
        publisher.close()
    return sent


def unread_backlog(url: str, topic: str, loop: NetLoop) -> tuple[Subscriber, list[bytes]]:
    """A subscribed subscriber that reads nothing (flow control), and the backlog queued for it."""
    sub = Subscriber(url, topic, loop).start()
    assert sub.subscribed.wait(10)
    sub.reading.clear()  # flow control: not one byte read from now on
    return sub, backlog(url, topic)


def assert_read_on_one_connection(sub: Subscriber, sent: list[bytes], timeout_s: float) -> None:
    """``sub`` reads all of ``sent``, in order, without ever losing its connection."""
    wait_until(lambda: len(sub.received) >= len(sent), timeout_s, "the whole backlog")
    assert sub.received == sent
    assert sub.connects == 1
    assert sub.disconnects == []


def test_a_subscriber_holding_the_broker_back_for_long_stays_connected(
    own_broker: MosquittoBroker, topic_root: str
) -> None:
    topic = f"{topic_root}/held"
    loop = NetLoop("t-net").start()
    try:
        sub, sent = unread_backlog(own_broker.url, topic, loop)
        time.sleep(3 * KEEPALIVE_S)  # paho's rule would have dropped it by now
        assert sub.disconnects == [], "dropped while holding the broker back"
        sub.reading.set()
        assert_read_on_one_connection(sub, sent, 20)
    finally:
        loop.stop()


def test_a_subscriber_slow_through_a_backlog_stays_connected(
    own_broker: MosquittoBroker, topic_root: str
) -> None:
    """Each message costs 2 ms: the backlog takes three keepalive periods to read, and the
    PINGRESP waits behind it (Mosquitto sends its whole queue once acks flow)."""
    topic = f"{topic_root}/slow"
    loop = NetLoop("t-net").start()
    try:
        sub, sent = unread_backlog(own_broker.url, topic, loop)
        sub.message_cost_s = 0.002
        sub.reading.set()
        assert_read_on_one_connection(sub, sent, 60)
    finally:
        loop.stop()


def test_a_silent_broker_is_left_and_found_again(
    own_broker: MosquittoBroker, topic_root: str
) -> None:
    topic = f"{topic_root}/silent"
    loop = NetLoop("t-net", min_delay_s=0.2, max_delay_s=0.5).start()
    assert own_broker.process is not None
    pid = own_broker.process.pid
    try:
        sub = Subscriber(own_broker.url, topic, loop).start()
        assert sub.subscribed.wait(10)
        os.kill(pid, signal.SIGSTOP)  # TCP stays up, nothing answers: a half-open link
        stopped = time.monotonic()
        try:
            wait_until(lambda: bool(sub.disconnects), 1.5 * KEEPALIVE_S + 3, "the silence noticed")
            assert time.monotonic() - stopped >= KEEPALIVE_S, "left too early"
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_until(lambda: sub.connects == 2 and sub.client.is_connected(), 15, "back again")
        sent = backlog(own_broker.url, topic, 10)
        wait_until(lambda: sub.received == sent, 10, "messages after the return")
    finally:
        loop.stop()
