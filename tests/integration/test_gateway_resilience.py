"""Nothing is lost when the cloud broker, the township broker or the gateway goes away."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_gateway.gateway import Gateway
from envgrid_gateway.settings import GatewaySettings
from tests.integration.test_gateway_forwarding import forwarding, spawned_gateway
from tests.integration.test_gateway_support import Stream, gateway_settings, missing_and_duplicates
from tests.mqtt_clients import Collector
from tests.mqtt_clients import Publisher as Node
from tests.polling import wait_until

COUNT = 600
RATE = 300.0


@pytest.fixture
def node_on_machine(mqtt_url: str) -> Iterator[Node]:
    node = Node(mqtt_url, background=False).start()
    yield node
    node.close()


def all_arrived(collector: Collector, topic: str, stream: Stream, timeout_s: float = 20) -> int:
    """Wait until every reading of ``stream`` is upstream; return the duplicate count."""
    wait_until(
        lambda: missing_and_duplicates(collector, topic, stream.payloads)[0] == 0,
        timeout_s,
        f"all {len(stream.payloads)} readings upstream "
        f"(missing {missing_and_duplicates(collector, topic, stream.payloads)[0]})",
    )
    return missing_and_duplicates(collector, topic, stream.payloads)[1]


@contextmanager
def own_township(
    own_broker: MosquittoBroker, topic_root: str, mqtt_url: str
) -> Iterator[tuple[GatewaySettings, Collector, Node]]:
    """A gateway's settings on ``own_broker`` as the township's, a collector upstream on the
    machine's broker and a node publishing locally; node and collector closed afterwards."""
    settings = gateway_settings(own_broker.url, topic_root, mqtt_url, gateway_session_expiry_s=60)
    collector = Collector(mqtt_url, settings.uplink_topics).start()
    try:
        node = Node(own_broker.url, background=False).start()
        try:
            yield settings, collector, node
        finally:
            node.close()
    finally:
        collector.stop()


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_uplink_broker_outage_loses_nothing(
    how: str, own_broker: MosquittoBroker, mqtt_url: str, topic_root: str, node_on_machine: Node
) -> None:
    settings = gateway_settings(mqtt_url, topic_root, own_broker.url, gateway_session_expiry_s=60)
    up = settings.uplink_topics
    collector = Collector(own_broker.url, up, session_expiry_s=300).start()
    # Have the broker save the collector's session now, so that a SIGKILL later cannot
    # take its subscription away (Mosquitto autosaves only every few seconds).
    own_broker.stop()
    own_broker.start()
    wait_until(lambda: collector.subscriptions == 2, 10, "collector back")
    gateway = Gateway(settings).start()
    try:
        assert gateway.wait_ready(10)
        stream = Stream(node_on_machine, settings.topics.readings("n1"), COUNT, RATE).start()
        stream.wait_sent(COUNT // 4)
        own_broker.kill() if how == "kill" else own_broker.stop()
        wait_until(lambda: not gateway.uplink.connected, 5, "gateway to notice")
        time.sleep(1.5)
        held = gateway.stats["buffered"]
        assert held > 0, "readings should wait in the buffer while the uplink is down"
        assert gateway.stats["local_unacked"] == 0, "stored readings are acknowledged locally"
        own_broker.start()
        stream.join()
        node_on_machine.flush()
        all_arrived(collector, up.readings("n1"), stream)
        wait_until(lambda: gateway.stats["local_unacked"] == 0, 10, "local acks")
        assert gateway.stats["forwarded"] >= COUNT
    finally:
        gateway.stop(drain_timeout_s=2)
        collector.stop()


def test_township_broker_restart_loses_nothing(
    own_broker: MosquittoBroker, mqtt_url: str, topic_root: str
) -> None:
    with own_township(own_broker, topic_root, mqtt_url) as (settings, collector, node):
        up = settings.uplink_topics
        gateway = Gateway(settings).start()
        try:
            assert gateway.wait_ready(10)
            stream = Stream(node, settings.topics.readings("n1"), COUNT, RATE).start()
            stream.wait_sent(COUNT // 4)
            own_broker.stop()  # SIGTERM: Mosquitto saves sessions and queued messages
            time.sleep(1.0)
            own_broker.start()
            stream.join()
            node.flush(20)
            duplicates = all_arrived(collector, up.readings("n1"), stream)
            wait_until(lambda: gateway.stats["local_unacked"] == 0, 10, "local acks")
            # Redelivery after a reconnect may repeat a few; never more than were in flight.
            assert duplicates <= settings.gateway_receive_maximum
        finally:
            gateway.stop(drain_timeout_s=2)


def test_gateway_killed_mid_stream_and_restarted_loses_nothing(
    own_broker: MosquittoBroker, mqtt_url: str, topic_root: str
) -> None:
    with own_township(own_broker, topic_root, mqtt_url) as (settings, collector, node):
        up = settings.uplink_topics
        with spawned_gateway(settings) as process:
            status = up.gateway_status(settings.gateway_id)
            wait_until(lambda: forwarding(collector, status), 15, "gateway forwarding")
            stream = Stream(node, settings.topics.readings("n1"), COUNT, RATE).start()
            stream.wait_sent(COUNT // 3)
            process.send_signal(signal.SIGKILL)
            process.wait(5)
            time.sleep(0.5)  # readings keep coming and queue in the gateway's session
            with Gateway(settings) as gateway:
                stream.join()
                node.flush()
                all_arrived(collector, up.readings("n1"), stream)
                wait_until(lambda: gateway.stats["local_unacked"] == 0, 10, "local acks")
                assert gateway.stats["received"] > 0


def test_gateway_stopped_mid_stream_and_restarted_loses_and_repeats_nothing(
    own_broker: MosquittoBroker, mqtt_url: str, topic_root: str
) -> None:
    with own_township(own_broker, topic_root, mqtt_url) as (settings, collector, node):
        up = settings.uplink_topics
        first = Gateway(settings).start()
        assert first.wait_ready(10)
        stream = Stream(node, settings.topics.readings("n1"), COUNT, RATE).start()
        stream.wait_sent(COUNT // 3)
        first.stop()
        assert first.stats["forwarded"] > 0
        time.sleep(0.5)
        with Gateway(settings) as second:
            stream.join()
            node.flush()
            duplicates = all_arrived(collector, up.readings("n1"), stream)
            assert duplicates == 0, "a clean stop acknowledges everything it forwarded"
            wait_until(
                lambda: first.stats["forwarded"] + second.stats["forwarded"] == COUNT,
                5,
                "each reading forwarded by exactly one of the two",
            )
