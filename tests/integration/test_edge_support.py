"""Helpers for the edge tests: node configurations, agents in threads, clean brokers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import yaml

from envgrid_common.topics import Topics
from envgrid_edge.agent import SensorAgent
from envgrid_edge.config import load_config
from envgrid_edge.drivers import open_driver
from tests.mqtt_clients import Publisher


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
    with Publisher(url, "edge-clean", background=False) as publisher:
        publisher.publish(topics.status(node_id), b"", retain=True)


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
