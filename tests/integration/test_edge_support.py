"""Helpers for the edge tests: a validating subscriber and node configurations."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.subscribeoptions import SubscribeOptions

from envgrid_common.messages import NodeState, NodeStatus, Reading
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from envgrid_common.topics import NodeChannel, Topics
from envgrid_common.validation import validate
from envgrid_edge.agent import SensorAgent
from envgrid_edge.config import load_config
from envgrid_edge.drivers import open_driver
from tests.polling import wait_until


@dataclass(frozen=True, slots=True)
class Got:
    """One received message, validated against the contract."""

    topic: str
    message: Reading | NodeStatus
    retain: bool
    at: float


class Subscriber:
    """A QoS 1 subscriber to every node topic under a root; it validates all it receives."""

    def __init__(self, url: str, topics: Topics, session_expiry_s: int = 0) -> None:
        self.topics = topics
        self._address = BrokerAddress.parse(url)
        self._expiry = session_expiry_s
        self.client = new_client(
            f"edge-sub-{uuid.uuid4().hex[:10]}", self._address, persistent=session_expiry_s > 0
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._lock = threading.Lock()
        self.got: list[Got] = []
        self.invalid: list[str] = []
        self.subscriptions = 0

    def start(self) -> Subscriber:
        connect(
            self.client,
            self._address,
            persistent=self._expiry > 0,
            session_expiry_s=self._expiry,
            receive_maximum=65535,
        )
        self.client.loop_start()
        wait_until(lambda: self.subscriptions > 0, 10, "subscription")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        options = SubscribeOptions(qos=1, retainAsPublished=True)
        client.subscribe(self.topics.all_nodes(), options=options)

    def _on_subscribe(self, *_: Any) -> None:
        self.subscriptions += 1

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
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
        got = Got(message.topic, accepted.message, bool(message.retain), time.monotonic())
        with self._lock:
            self.got.append(got)

    def readings(self, node_id: str) -> list[Reading]:
        """Readings of one node, in arrival order (duplicates included)."""
        topic = self.topics.node(node_id, NodeChannel.READINGS)
        with self._lock:
            return [
                g.message for g in self.got if g.topic == topic and isinstance(g.message, Reading)
            ]

    def statuses(self, node_id: str) -> list[NodeStatus]:
        """Statuses of one node, in arrival order."""
        topic = self.topics.status(node_id)
        with self._lock:
            return [
                g.message
                for g in self.got
                if g.topic == topic and isinstance(g.message, NodeStatus)
            ]

    def last_state(self, node_id: str) -> NodeState | None:
        """The latest status state of one node, if any came."""
        statuses = self.statuses(node_id)
        return statuses[-1].state if statuses else None

    def seqs(self, node_id: str) -> Counter[int]:
        """How often each sequence number arrived."""
        return Counter(r.seq for r in self.readings(node_id))


def node_config(
    path: Path, node_id: str, url: str, topics: Topics, *, interval_s: float = 0.05, **extra: Any
) -> Path:
    """Write a simulated node's YAML file next to its outbox; return the file."""
    data: dict[str, Any] = {
        "node_id": node_id,
        "mqtt_url": url,
        "topic_root": topics.root,
        "poll_interval_s": interval_s,
        "align": False,
        "progress_interval_s": 1.0,
        "outbox": {"path": f"{node_id}.sqlite", "durability": "normal"},
        "driver": {"type": "simulated", "profile": "farm_effluent", "seed": 7},
        **extra,
    }
    path.mkdir(parents=True, exist_ok=True)
    file = path / f"{node_id}.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True))
    return file


def clear_retained(url: str, topics: Topics, node_id: str) -> None:
    """Remove a node's retained status (the machine broker outlives the test)."""
    address = BrokerAddress.parse(url)
    client = new_client(f"edge-clean-{uuid.uuid4().hex[:8]}", address)
    connect(client, address, background=False)
    client.loop_start()
    client.publish(topics.status(node_id), b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


class RunningAgent:
    """A sensor agent in a thread of this process."""

    def __init__(self, config_file: Path) -> None:
        config = load_config(config_file)
        self.agent = SensorAgent(config, open_driver(config.driver, config.node_id))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.agent.run, args=(self._stop,), daemon=True)

    def start(self) -> RunningAgent:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)
        assert not self._thread.is_alive(), "agent did not stop"
