"""Helpers for the gateway's integration tests: settings, readings, a steady stream of them."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envgrid_common.outbox.message import mark_historical
from envgrid_gateway.settings import GatewaySettings
from tests.mqtt_clients import Collector, Publisher
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


class Stream:
    """A node publishing numbered readings at a steady rate from a thread of its own."""

    def __init__(self, node: Publisher, topic: str, count: int, rate_per_s: float) -> None:
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
