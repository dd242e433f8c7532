"""Incidents: tracks whose evidence persisted become one event each, from ``new`` to ``end``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from envgrid_common.messages import DetectionKind, DetectionPhase
from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.regions import overlap, union
from envgrid_edge.camera.detector.tracks import Track
from envgrid_edge.camera.events import Box, CameraEvent

# Turns the current frame into snapshot bytes (only called on ``new`` and better ``update``).
Snapshot = Callable[[], bytes]


@dataclass
class Incident:
    """One open incident: what it is, where, and what was last reported of it."""

    event_id: str
    kind: DetectionKind
    box: Box  # analysed-frame pixels
    last_support_at: float
    reported_confidence: float
    reported_area: int
    reported_at: float


class IncidentBook:
    """Opens, updates and ends incidents from the tracks' persisted votes."""

    def __init__(self, config: DetectorConfig, id_stem: str) -> None:
        self._config = config
        self.reach = 0  # pixels: candidates this close to an incident join it (set per source)
        self._id_stem = id_stem
        self._counter = itertools.count(1)
        self.open: dict[str, Incident] = {}

    def step(
        self, tracks: list[Track], at: float, to_input: Callable[[Box], Box], snapshot: Snapshot
    ) -> list[CameraEvent]:
        """The events this frame's votes cause: new incidents, better evidence, quiet ends."""
        events: list[CameraEvent] = []
        for track in tracks:
            if track.incident is None and track.votes.started:
                events.extend(self._attach_or_open(track, at, to_input, snapshot))
        for incident in list(self.open.values()):
            supporters = [t for t in tracks if t.incident == incident.event_id]
            if any(t.seen and t.votes.latest for t in supporters):
                incident.last_support_at = at
                # The incident covers all ground it was seen on (a flame front moves along).
                for track in supporters:
                    if track.seen:
                        incident.box = union(incident.box, track.box)
            if at - incident.last_support_at >= self._config.end_quiet_s:
                events.append(self._end(incident, at, to_input, supporters))
                continue
            confidence = max((t.votes.confidence for t in supporters), default=0.0)
            events.extend(self._maybe_update(incident, confidence, at, to_input, snapshot))
        return events

    def finish(
        self, tracks: list[Track], at: float, to_input: Callable[[Box], Box]
    ) -> list[CameraEvent]:
        """End every open incident."""
        return [self._end(i, at, to_input, tracks) for i in list(self.open.values())]

    def _attach_or_open(
        self, track: Track, at: float, to_input: Callable[[Box], Box], snapshot: Snapshot
    ) -> list[CameraEvent]:
        for incident in self.open.values():
            zone = _catchment(incident.box, self._config.merge_margin, self.reach)
            if overlap(zone, track.box) > 0:
                track.incident = incident.event_id
                return []
        event_id = f"{self._id_stem}-{next(self._counter)}"
        confidence = _clip(track.votes.confidence)
        area = track.box[2] * track.box[3]
        self.open[event_id] = Incident(event_id, track.kind, track.box, at, confidence, area, at)
        track.incident = event_id
        return [
            CameraEvent(
                event_id,
                track.kind,
                DetectionPhase.NEW,
                confidence,
                to_input(track.box),
                at,
                snapshot(),
            )
        ]

    def _maybe_update(
        self,
        incident: Incident,
        confidence: float,
        at: float,
        to_input: Callable[[Box], Box],
        snapshot: Snapshot,
    ) -> list[CameraEvent]:
        config = self._config
        if at - incident.reported_at < config.update_min_interval_s:
            return []
        area = incident.box[2] * incident.box[3]
        better = confidence >= incident.reported_confidence + config.update_min_gain
        bigger = area >= 2 * incident.reported_area and confidence >= incident.reported_confidence
        if not (better or bigger):
            return []
        incident.reported_confidence = max(incident.reported_confidence, _clip(confidence))
        incident.reported_area = area
        incident.reported_at = at
        return [
            CameraEvent(
                incident.event_id,
                incident.kind,
                DetectionPhase.UPDATE,
                incident.reported_confidence,
                to_input(incident.box),
                at,
                snapshot(),
            )
        ]

    def _end(
        self, incident: Incident, at: float, to_input: Callable[[Box], Box], tracks: list[Track]
    ) -> CameraEvent:
        del self.open[incident.event_id]
        for track in tracks:
            if track.incident == incident.event_id:
                track.incident = None
        return CameraEvent(
            incident.event_id,
            incident.kind,
            DetectionPhase.END,
            incident.reported_confidence,
            to_input(incident.box),
            at,
        )


def _catchment(box: Box, margin: float, reach: int) -> Box:
    """Where a candidate belongs to an incident: around its box (by ``margin`` of its size, at
    least ``reach`` pixels: one flame front breaks into pieces), and anywhere above it (smoke
    rises from a fire and drifts; what starts above a burning field is that field's smoke)."""
    x, y, w, h = box
    dx, dy = max(round(w * margin), reach), max(round(h * margin), reach)
    return (x - dx, 0, w + 2 * dx, max(1, y + h + dy))


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))
