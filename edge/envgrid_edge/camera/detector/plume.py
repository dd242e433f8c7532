"""Judging smoke candidates over time: does it rise from a fixed foot, and is it still there?

A plume grows up from a narrow foot that stays put, its content churns and drifts up, and it
differs from the scene as it was before it. Clouds drift in from the side and are flat; the
whole sky changing is wide at its bottom; the learned scene's fading ghost of a plume is still.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from envgrid_common.messages import DetectionKind, DetectionPhase
from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.smoke import clamp_box, vertical_flow
from envgrid_edge.camera.detector.tracks import Track
from envgrid_edge.camera.detector.views import Bool, Grey, Views
from envgrid_edge.camera.events import CameraEvent

# Smoke motion is measured between frames this many analysed frames apart (sub-pixel steps add up).
FLOW_LAG = 3
# At most this many smoke candidates get their motion measured per frame (the largest).
_FLOW_TRACKS = 3
# Weight of the newest measurement in a track's running estimates (rise, churn).
_WEIGHT = 0.3
# A plume's foot is at most this share of its width (else it must be taller than wide).
_FOOT_SHARE = 0.6
# How far around churning smoke pixels the scene is learned slower.
_NEAR = np.ones((9, 9), np.uint8)
# Share of a plume's pixels that must keep changing for it to count as still there.
_MIN_CHURN = 0.02
# The learned scene is kept every this many seconds, this many times (the album of late scenes).
_ALBUM_EVERY_S = 5.0
_ALBUM_SIZE = 8
# Cell size (pixels) for comparing a plume's box with the scene before it.
_CELL = 4
# Share of a reported plume's box that must still differ from the scene before it.
_MIN_DEPARTED = 0.1
# Evidence of a still-anchored plume that already opened an incident (enough to keep it open).
_HOLD = 0.6


def ramp(value: float, full: float, zero: float) -> float:
    """1 up to ``full``, falling linearly to 0 at ``zero``."""
    if value <= full:
        return 1.0
    if value >= zero:
        return 0.0
    return (zero - value) / (zero - full)


def plume_shaped(track: Track, views: Views, max_area: float) -> bool:
    """A plume leaves the ground at a narrow foot or stands as a column; a cloud bank or the
    whole sky changing is wide at its bottom and flat, and weather fills the frame. A blob cut
    by the frame's side (a cloud drifting in) shows no foot to judge."""
    x, _y, w, h = track.box
    if w * h > max_area * views.grey.size:
        return False
    if x <= 0 or x + w >= views.grey.shape[1]:
        return False
    return h >= w or track.base_width <= _FOOT_SHARE * w


class PlumeJudge:
    """Measures smoke tracks frame by frame and says how much each looks like a plume."""

    def __init__(self, config: DetectorConfig) -> None:
        self._config = config
        self._past: deque[tuple[float, Grey]] = deque(maxlen=FLOW_LAG + 1)
        self._album: deque[tuple[float, Grey]] = deque(maxlen=_ALBUM_SIZE)
        self._scenes: dict[str, Grey] = {}  # event id → the scene before it

    def reset(self) -> None:
        """Forget every frame and scene."""
        self._past.clear()
        self._album.clear()
        self._scenes.clear()

    def see(self, views: Views, at: float) -> None:
        """Remember this frame for motion measured a few frames on."""
        self._past.append((at, views.grey))

    def measure(self, tracks: list[Track], views: Views, smoke: Bool, at: float) -> Bool | None:
        """Update churn and rise of the seen smoke tracks; the pixels whose learning to hold
        back (smoke that churns: a plume is not absorbed, its still ghost fades normally)."""
        if not self._past or at <= self._past[0][0]:
            return None
        then, before = self._past[0]
        c = self._config
        churn = smoke & (np.abs(views.grey - before) >= c.motion_threshold)
        height, width = views.grey.shape
        seen = [t for t in tracks if t.seen and t.kind is DetectionKind.SMOKE]
        for track in seen:
            x, y, w, h = track.box
            inside = np.count_nonzero(smoke[y : y + h, x : x + w])
            share = np.count_nonzero(churn[y : y + h, x : x + w]) / inside if inside else 0.0
            track.churn += _WEIGHT * (share - track.churn)
        for track in sorted(seen, key=lambda t: t.box[2] * t.box[3], reverse=True)[:_FLOW_TRACKS]:
            rows, cols = clamp_box(track.box, width, height)
            flow = vertical_flow(
                before[rows, cols], views.grey[rows, cols], smoke[rows, cols], c.motion_threshold
            )
            if flow is not None:
                rise = -flow[1] / height / (at - then)
                track.rise += _WEIGHT * (rise - track.rise)
        near = cv2.dilate(churn.astype(np.uint8), _NEAR) > 0
        return np.asarray(smoke & near, dtype=np.bool_)

    def evidence(self, track: Track, views: Views) -> float:
        """This frame's evidence that a seen smoke track is a plume, 0..1."""
        c = self._config
        if track.age_s < c.smoke_min_age_s:
            return 0.0
        width = views.grey.shape[1]
        anchored = ramp(track.base_spread(width), c.anchor_tolerance, 2 * c.anchor_tolerance)
        if track.incident is None and not plume_shaped(track, views, c.smoke_max_area):
            return 0.0
        # Rising: its content drifts up, or its top climbs while its foot stays.
        rise = max(track.rise, track.growth(views.grey.shape[0]))
        if track.rise < -c.smoke_min_rise:
            rise = 0.0  # content sinking: not a plume
        rising = 0.0
        if rise >= c.smoke_min_rise:
            span = c.smoke_full_rise - c.smoke_min_rise
            rising = 0.5 + 0.5 * min(1.0, (rise - c.smoke_min_rise) / span)
        if track.incident is not None and self._still_there(track, views):
            # Hysteresis: a plume already reported needs only to stay where it is to go on.
            rising = max(rising, _HOLD)
        return anchored * rising

    def remember(
        self, events: list[CameraEvent], tracks: list[Track], background: Grey, at: float
    ) -> None:
        """Keep the scene as it was before each incident's candidate appeared (the learned scene
        at that moment already holds some of the plume); forget it when the incident ends."""
        if not self._album or at - self._album[-1][0] >= _ALBUM_EVERY_S:
            self._album.append((at, background.copy()))
        for event in events:
            if event.phase is DetectionPhase.NEW:
                born = min((t.first_at for t in tracks if t.incident == event.event_id), default=at)
                older = [scene for when, scene in self._album if when <= born - _ALBUM_EVERY_S]
                self._scenes[event.event_id] = older[-1] if older else self._album[0][1]
            elif event.phase is DetectionPhase.END:
                self._scenes.pop(event.event_id, None)

    def _still_there(self, track: Track, views: Views) -> bool:
        """Whether a reported plume still churns and still differs from the scene before it."""
        before = self._scenes.get(track.incident or "")
        if before is None or track.churn < _MIN_CHURN:
            return False
        x, y, w, h = track.box
        # Compared in cells, like the motion gate, so a shaking camera's edges do not count.
        cells = (max(1, w // _CELL), max(1, h // _CELL))
        now = cv2.resize(views.grey[y : y + h, x : x + w], cells, interpolation=cv2.INTER_AREA)
        then = cv2.resize(before[y : y + h, x : x + w], cells, interpolation=cv2.INTER_AREA)
        departed = np.abs(now - then) >= self._config.smoke_min_change
        return bool(np.mean(departed) >= _MIN_DEPARTED)
