"""The gateway on the machine's Mosquitto: validation, byte-exact forwarding, status, Will."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from envgrid_common.messages import GatewayStatus, NodeState
from envgrid_gateway.gateway import Gateway
from envgrid_gateway.settings import GatewaySettings
from tests.integration.test_gateway_support import gateway_settings, reading
from tests.mqtt_clients import Collector
from tests.mqtt_clients import Publisher as Node
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(mqtt_url: str, topic_root: str) -> GatewaySettings:
    return gateway_settings(mqtt_url, topic_root, gateway_session_expiry_s=60)


@pytest.fixture
def node(settings: GatewaySettings) -> Iterator[Node]:
    node = Node(settings.mqtt_url, background=False).start()
    yield node
    node.close()


@pytest.fixture
def gateway(settings: GatewaySettings) -> Iterator[Gateway]:
    gateway = Gateway(settings).start()
    assert gateway.wait_ready(10), "gateway did not connect"
    yield gateway
    gateway.stop(drain_timeout_s=2)


def with_ts(ts: datetime) -> bytes:
    return json.dumps({"seq": 1, "ts": ts.isoformat(), "values": {"cod": 1.0}}).encode()


def test_valid_messages_go_up_byte_identical_once_and_malformed_ones_are_dead_lettered(
    settings: GatewaySettings, collector: Collector, node: Node, gateway: Gateway
) -> None:
    local, up = settings.topics, settings.uplink_topics
    now = datetime.now(UTC)
    malformed: dict[str, tuple[str, bytes]] = {
        "Invalid JSON": (local.readings("n1"), b'{"seq": 1, "ts": '),
        "seq: Input should be a valid integer": (
            local.readings("n1"),
            b'{"seq": "7", "ts": "2026-05-01T08:00:00+08:00", "values": {"cod": 1}}',
        ),
        "unknown metric 'radon'": (
            local.readings("n2"),
            json.dumps({"seq": 1, "ts": now.isoformat(), "values": {"radon": 1}}).encode(),
        ),
        "finite number": (
            local.readings("n2"),
            f'{{"seq": 2, "ts": "{now.isoformat()}", "values": {{"cod": NaN}}}}'.encode(),
        ),
        "in the future": (local.readings("n3"), with_ts(now + timedelta(days=30))),
        "not a JPEG": (local.snapshot("cam1", "ev1"), b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
        "exceeds 65536": (local.readings("n3"), b"{" + b" " * 70_000 + b"}"),
        "node topic": (f"{local.base}/nodes/n1/gossip", b"{}"),
    }
    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(20_000)
    valid: list[tuple[str, str, bytes]] = []  # local topic, uplink topic, payload
    bad = iter(malformed.values())
    for seq in range(300):
        for node_id in ("n1", "n2", "n3"):
            valid.append((local.readings(node_id), up.readings(node_id), reading(seq)))
        if seq % 30 == 0:  # the malformed ones in among the valid ones
            topic, payload = next(bad, (local.readings("n1"), b"[]"))
            node.publish(topic, payload)
        for topic, _, payload in valid[-3:]:
            node.publish(topic, payload)
    detection = json.dumps(
        {
            "seq": 1,
            "ts": now.isoformat(),
            "event_id": "ev1",
            "kind": "smoke",
            "phase": "new",
            "confidence": 0.9,
            "has_snapshot": True,
        }
    ).encode()
    valid += [
        (local.detections("cam1"), up.detections("cam1"), detection),
        (local.snapshot("cam1", "ev1"), up.snapshot("cam1", "ev1"), jpeg),
    ]
    for topic, _, payload in valid[-2:]:
        node.publish(topic, payload)
    node.flush()

    expected_letters = len(malformed) + 2  # two b"[]" fillers after the list ran out
    wait_until(
        lambda: (
            gateway.stats["forwarded"] == len(valid)
            and gateway.stats["dead_lettered"] == expected_letters
        ),
        15,
        f"{len(valid)} forwarded and {expected_letters} dead letters: {gateway.stats}",
    )
    wait_until(lambda: len(collector.messages) >= len(valid) + expected_letters, 10, "collector")
    for _, topic, payload in valid:
        assert collector.payloads(topic)[payload] == 1, topic
    for _, topic, _ in valid:
        assert sum(collector.payloads(topic).values()) == sum(1 for v in valid if v[1] == topic)

    letters = collector.dead_letters(settings.gateway_id)
    assert len(letters) == expected_letters
    for needle, (topic, payload) in malformed.items():
        matching = [d for d in letters if d["topic"] == topic and needle in d["reason"]]
        assert len(matching) == 1, (needle, [d["reason"] for d in letters])
        letter = matching[0]
        kept = letter["payload"].encode() if letter["encoding"] == "utf-8" else None
        assert kept is None or kept == payload
    stats = gateway.stats
    assert stats["rejected_bad_json"] == 1
    assert stats["rejected_unknown_metric"] == 1
    assert stats["rejected_not_jpeg"] == 1
    assert stats["rejected_too_large"] == 1
    assert stats["received"] == len(valid) + expected_letters
    wait_until(lambda: gateway.stats["local_unacked"] == 0, 5, "every local message acked")


def test_retained_status_is_forwarded_retained(
    settings: GatewaySettings, node: Node, mqtt_url: str
) -> None:
    local, up = settings.topics, settings.uplink_topics
    before = b'{"state":"online","kind":"sensor"}'
    node.publish(local.status("early"), before, retain=True)  # there before the gateway
    node.flush()
    with Gateway(settings) as gateway:
        assert gateway.wait_ready(10)
        after = b'{"state":"offline"}'
        node.publish(local.status("live"), after, retain=True)
        node.publish(local.readings("live"), reading(1))
        node.flush()
        wait_until(lambda: gateway.stats["forwarded"] == 3, 10, "three forwarded")
        # A subscriber arriving later gets them only if they were kept retained upstream.
        late = Collector(mqtt_url, up).start()
        try:
            wait_until(lambda: len(late.on(up.status("live"))) == 1, 5, "retained live status")
            wait_until(lambda: len(late.on(up.status("early"))) == 1, 5, "retained early")
            assert late.on(up.status("live"))[0].payload == after
            assert late.on(up.status("early"))[0].payload == before
            assert late.on(up.status("live"))[0].retain
            assert late.on(up.readings("live")) == []
        finally:
            late.stop()
    for topic in (local.status("early"), local.status("live")):
        node.publish(topic, b"", retain=True)  # leave no retained messages on the broker


def status_on(collector: Collector, topic: str) -> list[GatewayStatus]:
    return [GatewayStatus.model_validate_json(m.payload) for m in collector.on(topic)]


def forwarding(collector: Collector, topic: str) -> bool:
    """Whether a status says the gateway is subscribed locally too.

    The first status goes out when the uplink connects, which may be before the local
    subscription is in place; a new session gets nothing published before it.
    """
    return any(s.counters.get("local_connected") == 1 for s in status_on(collector, topic))


def test_gateway_status_is_retained_online_then_offline_on_stop(
    settings: GatewaySettings, node: Node, mqtt_url: str
) -> None:
    up = settings.uplink_topics
    topic = up.gateway_status(settings.gateway_id)
    gateway = Gateway(settings).start()
    try:
        assert gateway.wait_ready(10)
        node.publish(settings.topics.readings("n1"), reading(1))
        node.publish(settings.topics.readings("n1"), b"nonsense")
        node.flush()
        wait_until(lambda: gateway.stats["dead_lettered"] == 1, 5, "dead letter")
        late = Collector(mqtt_url, up).start()
        wait_until(lambda: bool(status_on(late, topic)), 5, "retained status")
        assert status_on(late, topic)[0].state is NodeState.ONLINE
        # The periodic refresh carries the counters.
        wait_until(
            lambda: status_on(late, topic)[-1].counters.get("dead_lettered") == 1, 5, "counters"
        )
        counters = status_on(late, topic)[-1].counters
        assert counters["forwarded"] == 1
        assert counters["received"] == 2
        assert counters["uplink_connected"] == 1
    finally:
        gateway.stop(drain_timeout_s=2)
    wait_until(lambda: status_on(late, topic)[-1].state is NodeState.OFFLINE, 5, "offline")
    late.stop()
    again = Collector(mqtt_url, up).start()
    try:
        wait_until(lambda: bool(status_on(again, topic)), 5, "retained offline")
        assert status_on(again, topic)[0].state is NodeState.OFFLINE
    finally:
        again.stop()
        node.publish(topic, b"", retain=True)


@contextmanager
def spawned_gateway(settings: GatewaySettings) -> Iterator[subprocess.Popen[bytes]]:
    """The gateway as its own process (``python -m envgrid_gateway``), to be killed; killed at
    the end in any case."""
    env = {
        **os.environ,
        "ENVGRID_GATEWAY_SESSION_EXPIRY_S": str(settings.gateway_session_expiry_s),
        "ENVGRID_GATEWAY_STATUS_INTERVAL_S": "1",
        # The same buffer file as a Gateway(settings) restarted in the test: what the killed
        # process stored and acknowledged, and had not yet forwarded, is there.
        "ENVGRID_GATEWAY_BUFFER_PATH": str(settings.buffer_file),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "envgrid_gateway",
            "--id",
            settings.gateway_id,
            "--mqtt-url",
            settings.mqtt_url,
            "--uplink-url",
            settings.uplink_url,
            "--topic-root",
            settings.topics.root,
            "--uplink-topic-root",
            settings.uplink_topics.root,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait(5)


def test_last_will_says_offline_when_the_gateway_is_killed(
    settings: GatewaySettings, collector: Collector, node: Node
) -> None:
    topic = settings.uplink_topics.gateway_status(settings.gateway_id)
    try:
        with spawned_gateway(settings) as process:
            wait_until(lambda: bool(status_on(collector, topic)), 15, "online status")
            assert status_on(collector, topic)[-1].state is NodeState.ONLINE
            process.send_signal(signal.SIGKILL)
            process.wait(5)
            wait_until(
                lambda: status_on(collector, topic)[-1].state is NodeState.OFFLINE, 10, "Last Will"
            )
            late = Collector(settings.uplink_url, settings.uplink_topics).start()
            try:
                wait_until(lambda: bool(status_on(late, topic)), 5, "retained Will")
                assert status_on(late, topic)[0].state is NodeState.OFFLINE
                assert late.on(topic)[0].retain
            finally:
                late.stop()
    finally:
        node.publish(topic, b"", retain=True)


def test_sigterm_stops_cleanly_with_offline_status(
    settings: GatewaySettings, collector: Collector, node: Node
) -> None:
    topic = settings.uplink_topics.gateway_status(settings.gateway_id)
    try:
        with spawned_gateway(settings) as process:
            wait_until(lambda: forwarding(collector, topic), 15, "gateway forwarding")
            node.publish(settings.topics.readings("n1"), reading(1))
            node.flush()
            wait_until(
                lambda: len(collector.on(settings.uplink_topics.readings("n1"))) == 1, 5, "up"
            )
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
            wait_until(lambda: status_on(collector, topic)[-1].state is NodeState.OFFLINE, 5, "off")
            last = status_on(collector, topic)[-1]
            assert last.counters["forwarded"] == 1
    finally:
        node.publish(topic, b"", retain=True)


def test_forwards_over_mqtt_3_1_1(tmp_path: Path, topic_root: str) -> None:
    """The demo's fallback brokers (amqtt) speak only MQTT 3.1.1: township and cloud."""
    if not Path(sys.executable).with_name("amqtt").exists():
        pytest.skip("amqtt is not installed")
    from envgrid_cli.services.amqtt_broker import AmqttBroker

    # Two brokers, as in the demo: amqtt matches "root/#" against "root-up/…" too.
    township = AmqttBroker(tmp_path / "township").start()
    cloud = AmqttBroker(tmp_path / "cloud").start()
    try:
        settings = gateway_settings(
            township.url, topic_root, cloud.url, gateway_session_expiry_s=60
        )
        up = settings.uplink_topics
        collector = Collector(cloud.url, up).start()
        node = Node(township.url, background=False).start()
        with Gateway(settings) as gateway:
            assert gateway.wait_ready(10)
            sent = [reading(seq) for seq in range(100)]
            node.publish_all((settings.topics.readings("n1"), p) for p in sent)
            node.publish(settings.topics.status("n1"), b'{"state":"online"}', retain=True)
            node.publish(settings.topics.readings("n1"), b"{")
            node.flush()
            wait_until(
                lambda: gateway.stats["forwarded"] == 101 and gateway.stats["dead_lettered"] == 1,
                10,
                f"forwarding over 3.1.1: {gateway.stats}",
            )
            wait_until(lambda: len(collector.messages) >= 103, 5, "collector")
            got = collector.payloads(up.readings("n1"))
            assert all(got[p] == 1 for p in sent)
            assert len(collector.dead_letters(settings.gateway_id)) == 1
            assert collector.on(up.status("n1"))[0].payload == b'{"state":"online"}'
        node.close()
        collector.stop()
    finally:
        township.stop()
        cloud.stop()
