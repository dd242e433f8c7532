"""Incidents on the wire: each CameraEvent as a Detection, with its snapshot, into the outbox."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta

from pydantic import ValidationError

from envgrid_common.messages import Detection, DetectionKind, DetectionPhase
from envgrid_common.outbox import Kind, OutMessage
from envgrid_common.validation import describe
from envgrid_edge.camera.config import CameraConfig
from envgrid_edge.camera.events import CameraEvent
from envgrid_edge.camera.snapshots import fit_snapshot
from envgrid_edge.link import CLOCK_FLOOR, NodeLink

log = logging.getLogger("envgrid.edge.camera")


def _box(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x, y, width, height = (int(v) for v in box)
    return x, y, width, height


class FrameClock:
    """Maps a frame's time (the source's seconds) to the wall clock, anchored on recent frames."""

    def __init__(self) -> None:
        self._at = 0.0
        self._wall: datetime | None = None

    def mark(self, at: float, wall: datetime) -> None:
        """The frame at ``at`` was read at ``wall``."""
        self._at, self._wall = at, wall

    def wall(self, at: float, fallback: datetime) -> datetime:
        """When the frame at ``at`` was taken (``fallback`` before any frame)."""
        if self._wall is None:
            return fallback
        when = self._wall + timedelta(seconds=at - self._at)
        return when.replace(microsecond=when.microsecond // 1000 * 1000)


class IncidentPublisher:
    """Turns a detector's events into contract messages stored in the node's outbox."""

    def __init__(self, config: CameraConfig, link: NodeLink) -> None:
        self.config = config
        self.link = link
        self.clock = FrameClock()
        self.events = dict.fromkeys(DetectionPhase, 0)
        self.unstored = 0
        self._detections_topic = config.topics.detections(config.node_id)

    def publish(self, events: list[CameraEvent]) -> None:
        """Store each event as a Detection (and its snapshot) in the outbox, in one transaction."""
        for event in events:
            self._publish(event)

    def _publish(self, event: CameraEvent) -> None:
        node = self.config.node_id
        ts = self.clock.wall(event.at, self.link.now())
        if ts < CLOCK_FLOOR:
            log.error(
                "clock reads %s: not set; %s %s not sent",
                ts.isoformat(),
                event.event_id,
                event.phase,
            )
            return
        snapshot = (
            None if event.snapshot is None else fit_snapshot(event.snapshot, self.config.snapshot)
        )
        seq = self.link.next_seq
        try:
            detection = Detection(
                seq=seq,
                ts=ts,
                event_id=event.event_id,
                kind=DetectionKind(event.kind),
                phase=DetectionPhase(event.phase),
                # A detector's numbers may be numpy's: the contract takes plain ones only.
                confidence=float(event.confidence),
                bbox=None if event.box is None else _box(event.box),
                has_snapshot=snapshot is not None,
            )
        except ValidationError as error:
            log.error("the detector gave an invalid event, not sent: %s", describe(error))
            return
        except ValueError as error:  # a kind or phase the contract does not know
            log.error("the detector gave an invalid event, not sent: %s", error)
            return
        messages = [
            OutMessage(
                Kind.DETECTION,
                self._detections_topic,
                detection.model_dump_json(exclude_defaults=True).encode(),
            )
        ]
        if snapshot is not None:
            topic = self.config.topics.snapshot(node, event.event_id)
            messages.append(OutMessage(Kind.SNAPSHOT, topic, snapshot))
        try:
            # The next seq is stored with the messages, in one transaction: no gap, no repeat.
            self.link.submit(messages, counters={self.link.seq_key: seq + 1})
        except (sqlite3.Error, OSError) as error:
            self.unstored += 1
            log.error("could not store detection %d in the outbox: %s", seq, error)
            return
        self.events[detection.phase] += 1
        log.info(
            "camera %s: %s %s %s (%.2f)%s",
            node,
            event.kind,
            event.phase,
            event.event_id,
            event.confidence,
            f", snapshot {len(snapshot) / 1024:.1f} KiB" if snapshot is not None else "",
        )
