"""The disk buffer with the real uplink: stored while the cloud broker is away, then replayed."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.topics import Topics
from envgrid_gateway.buffer import Buffer
from envgrid_gateway.gateway import Gateway
from envgrid_gateway.outbound import Outgoing
from envgrid_gateway.uplink import Uplink
from tests.integration.test_gateway_support import gateway_settings, missing_and_duplicates, reading
from tests.mqtt_clients import Collector, Publisher
from tests.polling import wait_until


class Acks:
    """Counts the buffer's local acknowledgements."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: list[str | None] = []

    def __call__(self, refused: str | None) -> None:
        with self._lock:
            self.outcomes.append(refused)

    def __len__(self) -> int:
        with self._lock:
            return len(self.outcomes)


def test_backlog_stored_while_the_cloud_broker_is_down_survives_a_restart(
    own_broker: MosquittoBroker, mqtt_url: str, topic_root: str, tmp_path: Path
) -> None:
    settings = gateway_settings(
        mqtt_url,
        topic_root,
        own_broker.url,
        gateway_session_expiry_s=60,
        gateway_buffer_path=tmp_path / "gateway.sqlite",
    )
    up = Topics(settings.uplink_topics.root)
    topic = up.readings("n1")
    status_topic = up.status("n1")
    collector = Collector(own_broker.url, up, session_expiry_s=300).start()
    own_broker.stop()  # SIGTERM: the collector's session is saved and waits for the backlog

    n = 40
    backlog = [Outgoing(topic, reading(seq)) for seq in range(1, n + 1)]
    status = Outgoing(status_topic, json.dumps({"state": "online"}).encode(), retain=True)
    backlog.insert(n // 2, status)
    uplink = Uplink(settings)
    buffer = Buffer.from_settings(settings, uplink).start()
    uplink.start()
    acks = Acks()
    for message in backlog:
        buffer.send(message, acks)
    wait_until(lambda: len(acks) == len(backlog), 10, "every message stored and acknowledged")
    assert acks.outcomes == [None] * len(backlog)
    # The gateway goes away without sending anything: the backlog is only on disk now.
    buffer.close()
    uplink.stop(0)

    uplink = Uplink(settings)
    buffer = Buffer.from_settings(settings, uplink).start()
    try:
        uplink.start()
        own_broker.start()
        wait_until(lambda: len(buffer.outbox) == 0, 20, "the backlog confirmed upstream")
        live = [Outgoing(topic, reading(seq)) for seq in range(n + 1, n + 4)]
        for message in live:
            buffer.send(message, acks)
        wait_until(lambda: len(collector.on(topic)) >= n + 3, 15, "every reading upstream")

        received = [m for m in collector.messages if m.topic in (topic, status_topic)]
        bodies = [json.loads(m.payload) for m in received]
        readings = [b for b in bodies if "seq" in b]
        assert [b["seq"] for b in readings] == list(range(1, n + 4)), "all, once, in order"
        assert all(b["historical"] is True for b in readings[:n]), "the backlog is historical"
        assert not any(b.get("historical") for b in readings[n:]), "live ones are not"
        statuses = [m for m in received if m.topic == status_topic]
        assert [s.payload for s in statuses] == [status.payload], "a status is sent unchanged"
        assert received.index(statuses[0]) == n // 2, "and in its place"
    finally:
        buffer.close(1.0)
        uplink.stop(1.0)
        collector.stop()


def test_readings_nobody_subscribed_to_upstream_wait_until_someone_does(
    own_broker: MosquittoBroker, mqtt_url: str, topic_root: str
) -> None:
    # After a cloud broker restart Mosquitto 2.0 forgets shared subscriptions until the ingest
    # subscribes again; it acknowledges what comes meanwhile and gives it to nobody.
    settings = gateway_settings(mqtt_url, topic_root, own_broker.url)
    up = settings.uplink_topics
    node = Publisher(mqtt_url).start()
    gateway = Gateway(settings).start()
    collector: Collector | None = None
    try:
        assert gateway.wait_ready(10)
        sent = [reading(seq) for seq in range(1, 31)]
        for payload in sent:
            node.publish(settings.topics.readings("n1"), payload)
        node.flush()
        wait_until(
            lambda: gateway.stats.get("uplink_undelivered", 0) > 0, 10, "no subscriber noticed"
        )
        assert gateway.stats["buffered"] > 0, "what nobody took is still on disk"
        collector = listening = Collector(own_broker.url, up).start()
        topic = up.readings("n1")
        wait_until(
            lambda: missing_and_duplicates(listening, topic, sent)[0] == 0,
            15,
            "every reading upstream once someone listens",
        )
        wait_until(lambda: gateway.stats["buffered"] == 0, 10, "the buffer drained")
    finally:
        gateway.stop(drain_timeout_s=2)
        node.close()
        if collector is not None:
            collector.stop()
