"""The network loop against real brokers: connecting, disconnecting, flow control."""

from __future__ import annotations

import threading
import time
import uuid
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.mqtt import BrokerAddress, connect
from envgrid_common.netloop import NetLoop, new_loop_client
from envgrid_common.topics import Topics
from envgrid_gateway.adapters import Inbound
from envgrid_gateway.adapters.mqtt import MqttAdapter
from tests.integration.test_gateway_support import gateway_settings, reading
from tests.mqtt_clients import Collector
from tests.mqtt_clients import Publisher as Node
from tests.polling import wait_until


class Publisher:
    """A LoopClient on a NetLoop, counting PUBACKs and connections."""

    def __init__(self, url: str, loop: NetLoop) -> None:
        self.address = BrokerAddress.parse(url)
        self.client = new_loop_client(f"pub-{uuid.uuid4().hex[:8]}", self.address)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.loop = loop
        self.connects = 0
        self.acked = 0
        self.threads: set[str] = set()
        connect(self.client, self.address)
        loop.add(self.client)

    def _on_connect(self, *_: Any) -> None:
        self.connects += 1
        self.threads.add(threading.current_thread().name)

    def _on_publish(self, _c: Any, _u: Any, _mid: int, code: ReasonCode, _p: Any) -> None:
        assert not code.is_failure
        self.acked += 1
        self.threads.add(threading.current_thread().name)

    def publish(self, topic: str, payload: bytes) -> None:
        self.loop.submit(lambda: self.client.publish(topic, payload, qos=1) and None)


def test_connects_once_the_broker_comes_up(own_broker: MosquittoBroker, topic_root: str) -> None:
    own_broker.stop()
    loop = NetLoop("t-net", min_delay_s=0.1, max_delay_s=0.3).start()
    try:
        publisher = Publisher(own_broker.url, loop)
        publisher.publish(f"{topic_root}/a", b"queued while the broker is away")
        time.sleep(1.0)  # a few refused attempts
        assert publisher.connects == 0
        own_broker.start()
        wait_until(
            lambda: publisher.acked == 1,
            10,
            f"the queued publish acked ({publisher.connects} connects, {loop._conns})",
        )
        assert publisher.threads == {"t-net"}
    finally:
        loop.stop()


def test_a_disconnect_sends_everything_queued_before_it(
    own_broker: MosquittoBroker, topic_root: str
) -> None:
    """And the broker gets to read all of it (Mosquitto drops what it has not read yet when
    a PUBACK it answers with finds the socket closed: the close must wait for its side)."""
    topics = Topics(topic_root)
    collector = Collector(own_broker.url, topics).start()
    loop = NetLoop("t-net").start()
    try:
        publisher = Publisher(own_broker.url, loop)
        wait_until(lambda: publisher.connects == 1, 10, "connected")
        sent = [reading(seq) for seq in range(2000)]
        for payload in sent:  # no waiting for PUBACKs: they are mostly still queued
            publisher.publish(topics.readings("n1"), payload)
        assert loop.disconnect(publisher.client, 10)
        assert not publisher.client.is_connected()
        wait_until(lambda: len(collector.on(topics.readings("n1"))) == 2000, 10, "all 2000")
        assert [m.payload for m in collector.on(topics.readings("n1"))] == sent
    finally:
        loop.stop()
        collector.stop()


def settle_backwards(batch: list[Inbound]) -> None:
    for message in reversed(batch):
        message.ack()


def more_than(received: list[Inbound], n: int) -> bool:
    return len(received) > n


def test_over_mqtt_3_1_1_the_window_holds_the_broker_back(
    own_broker: MosquittoBroker, topic_root: str
) -> None:
    """MQTT 3.1.1 has no Receive Maximum: the adapter stops reading instead."""
    url = f"{own_broker.url}?protocol=3.1.1"
    settings = gateway_settings(
        url, topic_root, gateway_receive_maximum=5, gateway_session_expiry_s=60
    )
    received: list[Inbound] = []
    lock = threading.Lock()

    def sink(inbound: Inbound) -> None:
        with lock:
            received.append(inbound)

    adapter = MqttAdapter(settings)
    node = Node(url, background=False).start()
    adapter.start(sink)
    try:
        wait_until(lambda: adapter.ready, 10, "adapter subscribed")
        sent = [reading(seq) for seq in range(40)]
        node.publish_all((settings.topics.readings("n1"), p) for p in sent)
        node.flush()
        wait_until(lambda: len(received) == 5, 5, "the first five")
        time.sleep(0.5)
        assert len(received) == 5, "no more than the window while none is settled"
        assert adapter.counters()["local_unacked"] == 5
        settled = 0
        while settled < len(sent):
            with lock:
                batch = received[settled:]
            # Settle from another thread, last first: the acks still go out in order.
            done = threading.Thread(target=settle_backwards, args=(batch,))
            done.start()
            done.join()
            settled += len(batch)
            if settled < len(sent):
                wait_until(partial(more_than, received, settled), 5, f"more after {settled}")
            assert adapter.counters()["local_unacked"] <= 5
        assert [m.payload for m in received] == sent
        wait_until(lambda: adapter.counters()["local_unacked"] == 0, 5, "all acknowledged")
    finally:
        adapter.stop()
        node.close()
    # Everything was acknowledged: the next session gets nothing again.
    again: list[Inbound] = []
    second = MqttAdapter(settings)
    second.start(again.append)
    try:
        wait_until(lambda: second.ready, 10, "second session")
        time.sleep(0.5)
        assert again == []
    finally:
        second.stop()


def test_a_client_added_to_a_running_loop_works(mqtt_url: str, topic_root: str) -> None:
    loop = NetLoop("t-net").start()
    try:
        first = Publisher(mqtt_url, loop)
        second = Publisher(mqtt_url, loop)
        for publisher in (first, second):
            publisher.publish(f"{topic_root}/x", b"1")
        wait_until(lambda: first.acked == second.acked == 1, 10, "both acked")
        assert loop.disconnect(first.client)
        assert loop.disconnect(second.client)
        assert loop.disconnect(first.client)  # again: nothing to do
    finally:
        loop.stop()


def test_an_mqtt_client_used_before_the_loop_starts_is_fine(mqtt_url: str) -> None:
    client = new_loop_client("unused", BrokerAddress.parse(mqtt_url))
    loop = NetLoop()
    loop.add(client)
    assert loop.disconnect(client)  # never connected: closed at once
    assert client.publish("t/x", b"1", qos=1).rc == mqtt.MQTT_ERR_NO_CONN
