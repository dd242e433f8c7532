"""MQTT clients for tests: a QoS 1 publisher that keeps what it sends, a recording subscriber."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from envgrid_common.messages import NodeState, NodeStatus, Reading
from envgrid_common.mqtt import BrokerAddress, check_publish, connect, new_client
from envgrid_common.topics import NodeChannel, Topics
from envgrid_common.validation import validate


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    retain: bool


class Publisher:
    """QoS 1 publisher that keeps every message until the broker PUBACKs it, across reconnects.

    paho keeps unacknowledged QoS 1 messages and resends them after a reconnect; a PUBACK with
    a failure reason code is published again. Nothing is dropped, so what it reports as sent is
    exactly what the broker took responsibility for.

    It connects in the background (paho keeps retrying while the broker is away); with
    ``background=False`` :meth:`start` connects at once and fails if the broker is not there.
    ``with Publisher(url) as pub:`` starts it, then flushes and disconnects.
    """

    def __init__(
        self, url: str, name: str = "t-pub", *, max_inflight: int = 200, background: bool = True
    ) -> None:
        self._address = BrokerAddress.parse(url)
        self._background = background
        self.client = new_client(
            f"{name}-{uuid.uuid4().hex[:8]}", self._address, max_inflight=max_inflight
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_publish = self._on_publish
        self._lock = threading.Lock()
        self._pending: dict[int, _Message] = {}
        self._early: set[int] = set()
        self._retry: list[_Message] = []
        self.submitted = 0
        self.acked = 0
        self.refused = 0

    def start(self) -> Self:
        """Connect and run paho's network loop."""
        connect(self.client, self._address, background=self._background)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        """Disconnect, whether or not everything was acknowledged (see :meth:`close`)."""
        self.client.disconnect()
        self.client.loop_stop()

    def close(self) -> None:
        """Flush, then disconnect."""
        try:
            self.flush()
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Hand one message to paho; it is kept until acknowledged."""
        with self._lock:
            self.submitted += 1
        self._send(_Message(topic, payload, retain))

    def publish_all(self, messages: Iterable[tuple[str, bytes]]) -> None:
        """Publish many ``(topic, payload)``."""
        for topic, payload in messages:
            self.publish(topic, payload)

    def unacked(self) -> int:
        """Messages the broker has not acknowledged yet."""
        with self._lock:
            return self.submitted - self.acked

    def wait_acked(self, timeout_s: float) -> bool:
        """Wait until the broker has acknowledged everything; republish refused ones meanwhile."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                retry, self._retry = self._retry, []
            for item in retry:
                self._send(item)
            if self.unacked() == 0:
                return True
            time.sleep(0.02)
        return False

    def flush(self, timeout_s: float = 15.0) -> None:
        """Wait until the broker has acknowledged everything; fail naming what it has not."""
        if self.wait_acked(timeout_s):
            return
        with self._lock:
            waiting = Counter(m.topic for m in [*self._pending.values(), *self._retry])
            missing, submitted = self.submitted - self.acked, self.submitted
        where = ", ".join(f"{n} on {topic}" for topic, n in waiting.most_common(5))
        raise AssertionError(
            f"{missing} of {submitted} QoS 1 messages not acknowledged in {timeout_s}s ({where})"
        )

    def _send(self, item: _Message) -> None:
        # Never call paho while holding our lock: its network thread holds paho's own lock
        # while it runs on_publish, which takes ours.
        info = check_publish(self.client.publish(item.topic, item.payload, 1, item.retain))
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.acked += 1
            else:
                self._pending[info.mid] = item

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._lock:
            item = self._pending.pop(mid, None)
            if item is None:
                self._early.add(mid)  # acknowledged before publish() returned its mid
                return
            if reason.is_failure:
                self.refused += 1
                self._retry.append(item)
            else:
                self.acked += 1


@dataclass(frozen=True, slots=True)
class Received:
    """One message as a collector saw it."""

    topic: str
    payload: bytes
    retain: bool


class Collector:
    """A QoS 1 subscriber that records every message it gets, retained flag included.

    By default it takes everything under ``topics``' root: all node topics, dead letters and
    gateway statuses; ``filters`` replaces those. With ``session_expiry_s`` the broker keeps
    its session across disconnects. It subscribes again on every connect; ``subscriptions``
    counts the SUBACKs.
    """

    def __init__(
        self,
        url: str,
        topics: Topics,
        session_expiry_s: int = 0,
        *,
        filters: Sequence[str] | None = None,
        name: str = "t-collector",
    ) -> None:
        self.topics = topics
        self.filters = (
            tuple(filters)
            if filters is not None
            else (topics.all_nodes(), topics.any_dead_letter(), topics.any_gateway_status())
        )
        self._address = BrokerAddress.parse(url)
        self._expiry = session_expiry_s
        self.client = new_client(
            f"{name}-{uuid.uuid4().hex[:8]}", self._address, persistent=session_expiry_s > 0
        )
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self._lock = threading.Lock()
        self.messages: list[Received] = []
        self._subscribed = threading.Event()
        self.subscriptions = 0

    def start(self) -> Self:
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
            raise AssertionError(f"{type(self).__name__.lower()} could not subscribe")
        return self

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        if self._address.v5:
            options = SubscribeOptions(qos=1, retainAsPublished=True)
            client.subscribe([(f, options) for f in self.filters])
        else:
            client.subscribe([(f, 1) for f in self.filters])

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

    def dead_letters(self, source: str) -> list[dict[str, Any]]:
        """Decoded dead letters from one source (a gateway)."""
        return [orjson.loads(m.payload) for m in self.on(self.topics.dead_letter(source))]


class Subscriber(Collector):
    """A collector of every node topic that validates all it receives against the contract."""

    def __init__(self, url: str, topics: Topics, session_expiry_s: int = 0) -> None:
        super().__init__(url, topics, session_expiry_s, filters=[topics.all_nodes()])
        self.valid: list[tuple[str, Reading | NodeStatus]] = []
        self.invalid: list[str] = []

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        super()._on_message(client, userdata, message)
        payload = bytes(message.payload)
        if not payload:
            return  # a retained message being cleared
        try:
            accepted = validate(self.topics, message.topic, payload)
        except ValueError as error:
            with self._lock:
                self.invalid.append(f"{message.topic}: {error} ({payload!r})")
            return
        assert isinstance(accepted.message, Reading | NodeStatus)
        with self._lock:
            self.valid.append((message.topic, accepted.message))

    def readings(self, node_id: str) -> list[Reading]:
        """Readings of one node, in arrival order (duplicates included)."""
        topic = self.topics.node(node_id, NodeChannel.READINGS)
        with self._lock:
            return [m for t, m in self.valid if t == topic and isinstance(m, Reading)]

    def statuses(self, node_id: str) -> list[NodeStatus]:
        """Statuses of one node, in arrival order."""
        topic = self.topics.status(node_id)
        with self._lock:
            return [m for t, m in self.valid if t == topic and isinstance(m, NodeStatus)]

    def last_state(self, node_id: str) -> NodeState | None:
        """The latest status state of one node, if any came."""
        statuses = self.statuses(node_id)
        return statuses[-1].state if statuses else None

    def seqs(self, node_id: str) -> Counter[int]:
        """How often each sequence number arrived."""
        return Counter(r.seq for r in self.readings(node_id))
