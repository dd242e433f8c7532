"""Helpers for the gateway's integration tests: publishing nodes and an upstream collector."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from envgrid_common.mqtt import BrokerAddress, check_publish, connect, new_client
from envgrid_common.outbox.message import mark_historical
from envgrid_common.topics import Topics
from envgrid_gateway.settings import GatewaySettings
from tests.polling import wait_until


def gateway_settings(
    local_url: str, local_root: str, uplink_url: str | None = None, **extra: Any
) -> GatewaySettings:
    """Settings for a test gateway; the uplink root is the local one + ``-up``."""
    return GatewaySettings(
        mqtt_url=local_url,
        topic_root=local_root,
        uplink_mqtt_url=uplink_url or local_url,
        uplink_topic_root=f"{local_root}-up",
        gateway_id=f"gw-{uuid.uuid4().hex[:8]}",
        gateway_status_interval_s=extra.pop("gateway_status_interval_s", 1.0),
        # Each test gateway buffers in a folder of its own, not in the user's data folder.
        gateway_buffer_path=extra.pop(
            "gateway_buffer_path", Path(tempfile.mkdtemp(prefix="envgrid-gw-")) / "buffer.sqlite"
        ),
        **extra,
    )


def reading(seq: int, node_value: float = 1.5) -> bytes:
    """A valid reading, stamped now."""
    ts = datetime.now(UTC).isoformat()
    return json.dumps({"seq": seq, "ts": ts, "values": {"cod": node_value + seq}}).encode()


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the collector saw it."""

    topic: str
    payload: bytes
    retain: bool


class Collector:
    """An upstream subscriber recording everything under a root (persistent session)."""

    def __init__(self, url: str, topics: Topics, session_expiry_s: int = 0) -> None:
        self.topics = topics
        self._address = BrokerAddress.parse(url)
        self._expiry = session_expiry_s
        self.client = new_client(
            f"collector-{uuid.uuid4().hex[:10]}", self._address, persistent=session_expiry_s > 0
        )
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self._lock = threading.Lock()
        self.messages: list[Received] = []
        self._subscribed = threading.Event()
        self.subscriptions = 0

    def start(self) -> Collector:
        """Connect and wait for the subscription."""
        connect(
            self.client,
            self._address,
            persistent=self._expiry > 0,
            session_expiry_s=self._expiry,
            receive_maximum=65535,
        )
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("collector could not subscribe")
        return self

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        filters = (
            self.topics.all_nodes(),
            self.topics.any_dead_letter(),
            self.topics.any_gateway_status(),
        )
        if self._address.v5:
            options = SubscribeOptions(qos=1, retainAsPublished=True)
            client.subscribe([(f, options) for f in filters])
        else:
            client.subscribe([(f, 1) for f in filters])

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _m: int, codes: list[ReasonCode], _p: Any
    ) -> None:
        assert not any(code.is_failure for code in codes), codes
        self.subscriptions += 1
        self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(
                Received(message.topic, bytes(message.payload), bool(message.retain))
            )

    def on(self, topic: str) -> list[Received]:
        """Messages received on one topic."""
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def payloads(self, topic: str) -> Counter[bytes]:
        """How often each payload came on ``topic``."""
        return Counter(m.payload for m in self.on(topic))

    def dead_letters(self, gateway_id: str) -> list[dict[str, Any]]:
        """Decoded dead letters from one gateway."""
        return [json.loads(m.payload) for m in self.on(self.topics.dead_letter(gateway_id))]


class Node:
    """A test node publishing at QoS 1 to the local broker."""

    def __init__(self, url: str) -> None:
        self._address = BrokerAddress.parse(url)
        self.client = new_client(f"node-{uuid.uuid4().hex[:10]}", self._address)
        self.client.on_publish = self._on_publish
        connect(self.client, self._address, background=False)
        self.client.loop_start()
        self._lock = threading.Lock()
        self.published = 0
        self.acked = 0

    def _on_publish(self, *_: Any) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish at QoS 1 (acknowledgement awaited by :meth:`flush`)."""
        check_publish(self.client.publish(topic, payload, 1, retain))  # queued if disconnected
        with self._lock:
            self.published += 1

    def publish_all(self, messages: Iterable[tuple[str, bytes]]) -> None:
        """Publish many."""
        for topic, payload in messages:
            self.publish(topic, payload)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until the broker has acknowledged everything published."""
        wait_until(lambda: self.acked >= self.published, timeout_s, "node PUBACKs")

    def stop(self) -> None:
        """Flush and disconnect."""
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


class Stream:
    """A node publishing numbered readings at a steady rate from a thread of its own."""

    def __init__(self, node: Node, topic: str, count: int, rate_per_s: float) -> None:
        self.node, self.topic, self.count, self.rate = node, topic, count, rate_per_s
        self.payloads: list[bytes] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Stream:
        """Begin publishing."""
        self._thread.start()
        return self

    def wait_sent(self, n: int, timeout_s: float = 20.0) -> None:
        """Wait until ``n`` readings have been handed to the node's client."""
        wait_until(lambda: len(self.payloads) >= n, timeout_s, f"{n} readings published")

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait for the whole stream to be published."""
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "stream did not finish"

    def _run(self) -> None:
        start = time.monotonic()
        for seq in range(self.count):
            payload = reading(seq)
            self.node.publish(self.topic, payload)
            self.payloads.append(payload)
            delay = start + (seq + 1) / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def missing_and_duplicates(collector: Collector, topic: str, sent: list[bytes]) -> tuple[int, int]:
    """How many sent payloads never arrived on ``topic``, and how many arrived more than once.

    A reading that waited in the gateway's buffer arrives marked ``"historical": true``; it
    counts as the reading sent, and as nothing else.
    """
    original = {p: p for p in sent} | {mark_historical(p): p for p in sent}
    got = Counter(original.get(p, p) for p in collector.payloads(topic).elements())
    missing = sum(1 for p in sent if got[p] == 0)
    duplicates = sum(n - 1 for n in got.values() if n > 1)
    return missing, duplicates
