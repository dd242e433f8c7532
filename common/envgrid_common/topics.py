"""The topic grammar: every MQTT topic envgrid uses is built and parsed here, and only here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from envgrid_common.messages import ID_PATTERN

VERSION = "v1"
DEFAULT_ROOT = "envgrid"
_ID = re.compile(ID_PATTERN)


class NodeChannel(StrEnum):
    """The per-node topics under ``{root}/v1/nodes/{node_id}/``."""

    READINGS = "readings"
    DETECTIONS = "detections"
    STATUS = "status"
    SNAPSHOTS = "snapshots"


@dataclass(frozen=True, slots=True)
class NodeTopic:
    """A parsed node topic."""

    node_id: str
    channel: NodeChannel
    event_id: str | None = None


def _check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"invalid {what} {value!r}: use letters, digits, '_', '.', '-' (≤64)")
    return value


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic builder for one root; tests give each run its own root so runs never mix."""

    root: str = DEFAULT_ROOT

    def __post_init__(self) -> None:
        if not self.root or any(c in self.root for c in "+#\0") or self.root.startswith("$"):
            raise ValueError(f"invalid topic root {self.root!r}")
        if self.root.endswith("/") or self.root.startswith("/"):
            raise ValueError(f"topic root must not start or end with '/': {self.root!r}")

    @property
    def base(self) -> str:
        """``{root}/v1``."""
        return f"{self.root}/{VERSION}"

    def node(self, node_id: str, channel: NodeChannel) -> str:
        """A node's topic for one channel (not snapshots; see :meth:`snapshot`)."""
        return f"{self.base}/nodes/{_check_id(node_id, 'node id')}/{channel.value}"

    def readings(self, node_id: str) -> str:
        """Where a node publishes its readings."""
        return self.node(node_id, NodeChannel.READINGS)

    def detections(self, node_id: str) -> str:
        """Where a camera node publishes detection events."""
        return self.node(node_id, NodeChannel.DETECTIONS)

    def status(self, node_id: str) -> str:
        """A node's retained online/offline status and Last Will."""
        return self.node(node_id, NodeChannel.STATUS)

    def snapshot(self, node_id: str, event_id: str) -> str:
        """JPEG evidence of one detection event."""
        return f"{self.node(node_id, NodeChannel.SNAPSHOTS)}/{_check_id(event_id, 'event id')}"

    def case(self, township_id: str, case_id: str) -> str:
        """Where the cloud announces a case to other systems."""
        return f"{self.base}/cases/{_check_id(township_id, 'township id')}/{case_id}"

    def gateway_status(self, gateway_id: str) -> str:
        """A gateway's retained status and counters."""
        return f"{self.base}/gateways/{_check_id(gateway_id, 'gateway id')}/status"

    def dead_letter(self, source: str) -> str:
        """Where a gateway (or other source) puts what it refused, with the reason."""
        return f"{self.base}/deadletter/{_check_id(source, 'source id')}"

    def clock(self) -> str:
        """Where a replay on the feed's clock publishes its ticks (``replay --feed-clock``)."""
        return f"{self.base}/clock/feed"

    def clock_ingested(self, worker_id: str) -> str:
        """Where an ingest worker says it has committed everything before a tick."""
        return f"{self.base}/clock/ingested/{_check_id(worker_id, 'worker id')}"

    def clock_swept(self) -> str:
        """Where the cloud says how far on the feed's clock its sweeps have run."""
        return f"{self.base}/clock/swept"

    def any_clock_ingested(self) -> str:
        """Every ingest worker's committed tick."""
        return f"{self.base}/clock/ingested/+"

    # Subscription filters.
    def all_nodes(self) -> str:
        """Every node topic, snapshots included."""
        return f"{self.base}/nodes/#"

    def any_node(self, channel: NodeChannel) -> str:
        """One channel of every node."""
        return f"{self.base}/nodes/+/{channel.value}"

    def any_snapshot(self) -> str:
        """Snapshots of every event of every node."""
        return f"{self.any_node(NodeChannel.SNAPSHOTS)}/+"

    def any_dead_letter(self) -> str:
        """Dead letters from every source."""
        return f"{self.base}/deadletter/+"

    def any_gateway_status(self) -> str:
        """Status of every gateway."""
        return f"{self.base}/gateways/+/status"

    def parse_gateway_status(self, topic: str) -> str | None:
        """The gateway id of a gateway status topic of this root; None if it is not one."""
        prefix, suffix = f"{self.base}/gateways/", "/status"
        if not (topic.startswith(prefix) and topic.endswith(suffix)):
            return None
        gateway_id = topic[len(prefix) : -len(suffix)]
        return gateway_id if _ID.match(gateway_id) else None

    def parse_node_topic(self, topic: str) -> NodeTopic | None:
        """Parse a node topic of this root; None if it is not one."""
        prefix = f"{self.base}/nodes/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        try:
            channel = NodeChannel(parts[1]) if len(parts) >= 2 else None
        except ValueError:
            return None
        if channel is None or not _ID.match(parts[0]):
            return None
        if channel is NodeChannel.SNAPSHOTS:
            if len(parts) != 3 or not _ID.match(parts[2]):
                return None
            return NodeTopic(parts[0], channel, parts[2])
        return NodeTopic(parts[0], channel) if len(parts) == 2 else None


def shared(group: str, topic_filter: str) -> str:
    """A shared subscription: brokers deal each message to one member of ``group``."""
    return f"$share/{_check_id(group, 'share group')}/{topic_filter}"


def split_node_topic(topic: str) -> tuple[Topics, NodeTopic] | None:
    """A node topic under whatever root it has (a recorded feed's): its root and parsed form."""
    parts = topic.split("/")
    for depth in (3, 4):  # {root}/v1/nodes/{node}/{channel}, then snapshots' /{event}
        if len(parts) > depth + 1 and parts[-depth] == "nodes" and parts[-depth - 1] == VERSION:
            try:
                topics = Topics("/".join(parts[: -depth - 1]))
            except ValueError:
                return None
            parsed = topics.parse_node_topic(topic)
            if parsed is not None:
                return topics, parsed
    return None
