"""The hot path: one MQTT message, checked against the contract, into the current batch."""

from __future__ import annotations

from typing import cast

from envgrid_cloud.ingest.batch import Batcher
from envgrid_cloud.ingest.dead import forwarded, refused
from envgrid_cloud.ingest.nodes import NodeCache
from envgrid_cloud.observations import (
    NO_FLAGS,
    DetectionRecord,
    ReadingRecord,
    SnapshotRecord,
    StatusRecord,
)
from envgrid_common.clock import CoarseClock, FeedClock
from envgrid_common.messages import Detection, NodeStatus, Reading
from envgrid_common.topics import NodeChannel, Topics
from envgrid_common.validation import MAX_SNAPSHOT_BYTES, Rejected, parse_node_message, validate

_READING, _STATUS, _DETECTION, _FORWARDED, _SNAPSHOT = 0, 1, 2, 3, 4
# Topics seen are node topics, so the cache stays near 2 × nodes; the cap only guards
# against a flood of made-up node ids.
_MAX_ROUTES = 200_000


class Decoder:
    """Routes a message by topic, validates it, and batches its record or a dead letter."""

    def __init__(
        self,
        topics: Topics,
        batcher: Batcher,
        nodes: NodeCache,
        clock: CoarseClock | FeedClock | None = None,
        *,
        snapshot_max_bytes: int = MAX_SNAPSHOT_BYTES,
    ) -> None:
        self._topics = topics
        self._snapshot_max_bytes = snapshot_max_bytes
        self._batcher = batcher
        self._nodes = nodes
        self._clock: CoarseClock | FeedClock = clock or CoarseClock()
        self._dead_letter_prefix = topics.dead_letter("x")[:-1]
        self._routes: dict[str, tuple[str, int]] = {}

    def handle(self, topic: str, payload: bytes, mid: int | None) -> None:
        """Decode one message; ``mid`` is its packet id if it must be acked (QoS 1)."""
        route = self._routes.get(topic) or self._route(topic)
        if route is None:
            reason = (
                f"not a {self._topics.base} readings, detections, snapshots, status or "
                "dead-letter topic"
            )
            self._batcher.add_dead_letter(mid, refused(topic, payload, reason))
            return
        node_id, kind = route
        if kind == _READING:
            self._reading(node_id, topic, payload, mid)
        elif kind == _STATUS:
            self._status(node_id, topic, payload, mid)
        elif kind == _DETECTION:
            self._detection(node_id, topic, payload, mid)
        elif kind == _SNAPSHOT:
            self._snapshot(node_id, topic, payload, mid)
        else:
            self._batcher.add_dead_letter(mid, forwarded(topic, payload))

    def _reading(self, node_id: str, topic: str, payload: bytes, mid: int | None) -> None:
        try:
            reading = cast(
                Reading, parse_node_message(NodeChannel.READINGS, payload, self._clock.now())
            )
        except Rejected as error:
            self._batcher.add_dead_letter(mid, refused(topic, payload, error.reason))
            return
        record = ReadingRecord(
            node_id,
            reading.ts,
            reading.seq,
            reading.values,
            reading.flags or NO_FLAGS,
            reading.historical,
            topic,
            payload,
        )
        if node_id in self._nodes.known:
            self._batcher.add_reading(mid, record)
        else:
            self._batcher.add_unresolved(mid, record)

    def _detection(self, node_id: str, topic: str, payload: bytes, mid: int | None) -> None:
        try:
            detection = cast(
                Detection, parse_node_message(NodeChannel.DETECTIONS, payload, self._clock.now())
            )
        except Rejected as error:
            self._batcher.add_dead_letter(mid, refused(topic, payload, error.reason))
            return
        record = DetectionRecord.from_detection(node_id, detection, topic, payload)
        if node_id in self._nodes.known:
            self._batcher.add_detection(mid, record)
        else:
            self._batcher.add_unresolved(mid, record)

    def _snapshot(self, node_id: str, topic: str, payload: bytes, mid: int | None) -> None:
        try:
            validate(self._topics, topic, payload)  # the contract: a JPEG, within its maximum
            if len(payload) > self._snapshot_max_bytes:
                raise Rejected(
                    f"snapshot of {len(payload)} bytes exceeds ENVGRID_SNAPSHOT_MAX_BYTES "
                    f"({self._snapshot_max_bytes})"
                )
        except Rejected as error:
            self._batcher.add_dead_letter(mid, refused(topic, payload, error.reason))
            return
        # The route was made from a snapshot topic: the event id is its last level.
        event_id = topic[topic.rindex("/") + 1 :]
        record = SnapshotRecord(node_id, event_id, self._clock.now(), topic, payload)
        if node_id in self._nodes.known:
            self._batcher.add_snapshot(mid, record)
        else:
            self._batcher.add_unresolved(mid, record)

    def _status(self, node_id: str, topic: str, payload: bytes, mid: int | None) -> None:
        if not payload:
            # An empty retained message is how a status is cleared (node retired): nothing to store.
            self._batcher.add_ack_only(mid)
            return
        now = self._clock.now()
        try:
            status = cast(NodeStatus, parse_node_message(NodeChannel.STATUS, payload, now))
        except Rejected as error:
            self._batcher.add_dead_letter(mid, refused(topic, payload, error.reason))
            return
        record = StatusRecord(node_id, status.state, status.ts or now, topic, payload)
        if node_id in self._nodes.known:
            self._batcher.add_status(mid, record)
        else:
            self._batcher.add_unresolved(mid, record)

    def _route(self, topic: str) -> tuple[str, int] | None:
        parsed = self._topics.parse_node_topic(topic)
        route: tuple[str, int] | None = None
        if parsed is not None and parsed.channel is NodeChannel.READINGS:
            route = (parsed.node_id, _READING)
        elif parsed is not None and parsed.channel is NodeChannel.STATUS:
            route = (parsed.node_id, _STATUS)
        elif parsed is not None and parsed.channel is NodeChannel.DETECTIONS:
            route = (parsed.node_id, _DETECTION)
        elif parsed is not None and parsed.channel is NodeChannel.SNAPSHOTS:
            route = (parsed.node_id, _SNAPSHOT)
        elif topic.startswith(self._dead_letter_prefix):
            source = topic[len(self._dead_letter_prefix) :]
            if source and "/" not in source:
                route = ("", _FORWARDED)
        if route is not None:
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            self._routes[topic] = route
        return route
