"""The temporal detector: motion gate, flame and smoke cues, tracks, persistence, incidents."""

from __future__ import annotations

import re
from collections import deque

import cv2
import numpy as np

from envgrid_common.clock import WallClock, utc_now
from envgrid_common.messages import DetectionKind, DetectionPhase
from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.flame import FlameCue
from envgrid_edge.camera.detector.flicker import FlickerMap
from envgrid_edge.camera.detector.fusion import ScorerBudget, fuse
from envgrid_edge.camera.detector.incidents import IncidentBook
from envgrid_edge.camera.detector.motion import MotionGate
from envgrid_edge.camera.detector.smoke import SmokeCue, clamp_box, vertical_flow
from envgrid_edge.camera.detector.snapshot import encode_snapshot
from envgrid_edge.camera.detector.tracks import Track, Tracker
from envgrid_edge.camera.detector.views import (
    Bool,
    Grey,
    Views,
    analysis_size,
    make_views,
    scale_box,
    shrink_mask,
)
from envgrid_edge.camera.events import Box, CameraEvent, Frame, Mask, RegionScorer

_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
# Smoke motion is measured between frames this many analysed frames apart (sub-pixel steps add up).
_FLOW_LAG = 3
# At most this many smoke candidates get their motion measured per frame (the largest).
_FLOW_TRACKS = 3
# Weight of the newest rise measurement in a track's running estimate.
_RISE_WEIGHT = 0.3
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


def _ramp(value: float, full: float, zero: float) -> float:
    """1 up to ``full``, falling linearly to 0 at ``zero``."""
    if value <= full:
        return 1.0
    if value >= zero:
        return 0.0
    return (zero - value) / (zero - full)


def _plume_shaped(track: Track, views: Views, max_area: float) -> bool:
    """A plume leaves the ground at a narrow foot or stands as a column; a cloud bank or the
    whole sky changing is wide at its bottom and flat, and weather fills the frame. A blob cut
    by the frame's side (a cloud drifting in) shows no foot to judge."""
    x, _y, w, h = track.box
    if w * h > max_area * views.grey.size:
        return False
    if x <= 0 or x + w >= views.grey.shape[1]:
        return False
    return h >= w or track.base_width <= _FOOT_SHARE * w


class TemporalDetector:
    """Finds smoke and flame incidents in a camera's frames (a :class:`FrameDetector`)."""

    def __init__(
        self,
        config: DetectorConfig | None = None,
        *,
        mask: Mask | None = None,
        scorer: RegionScorer | None = None,
        id_prefix: str = "",
        wall: WallClock = utc_now,
    ) -> None:
        if id_prefix and not _PREFIX.match(id_prefix):
            raise ValueError(f"id_prefix {id_prefix!r}: letters, digits, - and _ only, ≤ 32")
        self.config = config or DetectorConfig()
        self._mask = mask
        stamp = wall().strftime("%Y%m%dT%H%M%SZ")
        self._incidents = IncidentBook(self.config, f"{id_prefix}-{stamp}" if id_prefix else stamp)
        self._scorer = ScorerBudget(scorer, self.config)
        self._gate = MotionGate(
            self.config.background_tau_s, self.config.motion_tau_s, self.config.motion_threshold
        )
        self._flicker = FlickerMap(
            self.config.flicker_frames, self.config.flicker_deadband, self.config.flicker_mean_tau_s
        )
        self._flame = FlameCue(self.config)
        self._smoke = SmokeCue(self.config)
        c = self.config
        self._tracker = Tracker(c.m, c.n, c.track_min_overlap, c.track_ttl_s, c.history_s)
        self._size: tuple[int, int] | None = None
        self._input_shape: tuple[int, ...] | None = None
        self._look: Bool | None = None
        self._scale = 1.0
        self._past: deque[tuple[float, Grey]] = deque(maxlen=_FLOW_LAG + 1)
        self._scenes: dict[str, Grey] = {}  # event id → the scene before it
        self._album: deque[tuple[float, Grey]] = deque(maxlen=_ALBUM_SIZE)  # scenes of late
        self.frames = 0
        self.analysed = 0  # frames on which the motion gate let the cues run

    @property
    def scorer_calls(self) -> int:
        """How often the verifier was asked so far."""
        return self._scorer.calls

    def process(self, frame: Frame, at: float) -> list[CameraEvent]:
        """Judge one frame taken at ``at`` seconds; the incident steps it caused."""
        events: list[CameraEvent] = []
        if frame.shape != self._input_shape:
            events.extend(self.finish(at))
            self._start(frame)
        assert self._size is not None
        assert self._look is not None
        self.frames += 1
        views = make_views(frame, self._size, self._look)
        moving = self._gate.moving(views.grey, views.look)
        self._flicker.update(views.grey, at)
        background = self._gate.background
        if background is None or self._gate.age_s < self.config.warmup_s:
            self._gate.learn(views.grey, at)
            self._smoke.learn(views, at, None)
            self._past.append((at, views.grey))
            return events
        busy = moving >= self.config.motion_min_fraction
        smoke: Bool | None = None
        held: Bool | None = None
        regions = []
        if busy or self._tracker.tracks or self._incidents.open:
            self.analysed += 1
            recent = self._flame.observe(views, background, at)
            regions.extend(self._flame.regions(recent, self._flicker.rate()))
            smoke = self._smoke.mask(views, background)
            regions.extend(self._smoke.regions(smoke))
        self._tracker.update(regions, at)
        tracks = self._tracker.tracks
        if smoke is not None and self._past:
            churn = smoke & (np.abs(views.grey - self._past[0][1]) >= self.config.motion_threshold)
            self._measure_rise(tracks, views, smoke, churn, at)
            # The scene is learned slower only where smoke churns: a plume is not absorbed, but
            # the still ghost it leaves in the learned scene fades at the normal pace.
            near = cv2.dilate(churn.astype(np.uint8), _NEAR) > 0
            held = np.asarray(smoke & near, dtype=np.bool_)
        evidence = {t.number: self._evidence(t, views) for t in tracks}
        self._scorer.ask(frame, tracks, evidence, at, views.to_input)
        for track in tracks:
            confidence, vetoed = fuse(evidence[track.number], track.score, self.config)
            agrees = track.seen and not vetoed and confidence >= self.config.evidence_on
            track.votes.push(confidence if track.seen else 0.0, agrees)
        events.extend(self._incidents.step(tracks, at, views.to_input, lambda: self._snap(frame)))
        self._remember_scenes(events, tracks, background, at)
        self._gate.learn(views.grey, at, held)
        self._smoke.learn(views, at, held)
        self._past.append((at, views.grey))
        return events

    def finish(self, at: float) -> list[CameraEvent]:
        """End every open incident and forget the scene (the source ended or the agent stops)."""
        if self._size is None:
            return []
        scale = self._scale

        def to_input(box: Box) -> Box:
            return scale_box(box, scale)

        events = self._incidents.finish(self._tracker.tracks, at, to_input)
        self._reset()
        return events

    def _start(self, frame: Frame) -> None:
        """Size everything for a new source (or a source whose frame size changed)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an H×W×3 uint8 BGR frame, got {frame.shape} {frame.dtype}")
        height, width = frame.shape[:2]
        self._input_shape = frame.shape
        self._size = analysis_size(width, height, self.config.analysis_width)
        self._look = shrink_mask(self._mask, self._size)
        self._scale = width / self._size[0]

    def _reset(self) -> None:
        self._gate.reset()
        self._flicker.reset()
        self._flame.reset()
        self._smoke.reset()
        self._tracker.reset()
        self._scorer.reset()
        self._past.clear()
        self._scenes.clear()
        self._album.clear()
        self._input_shape = None
        self._size = None

    def _evidence(self, track: Track, views: Views) -> float:
        """This frame's temporal evidence for a track, 0..1 (0 when it was not seen)."""
        if not track.seen:
            return 0.0
        c = self.config
        width = views.grey.shape[1]
        if track.kind is DetectionKind.FLAME:
            still = _ramp(track.drift(width), c.max_drift, 2 * c.max_drift)
            return track.strength * still
        if track.age_s < c.smoke_min_age_s:
            return 0.0
        anchored = _ramp(track.base_spread(width), c.anchor_tolerance, 2 * c.anchor_tolerance)
        if track.incident is None and not _plume_shaped(track, views, c.smoke_max_area):
            return 0.0
        # Rising: its content drifts up, or its top climbs while its base stays.
        rise = max(track.rise, track.growth(views.grey.shape[0]))
        if track.rise < -c.smoke_min_rise:
            rise = 0.0  # content sinking: not a plume
        rising = 0.0
        if rise >= c.smoke_min_rise:
            rising = 0.5 + 0.5 * min(
                1.0, (rise - c.smoke_min_rise) / (c.smoke_full_rise - c.smoke_min_rise)
            )
        if track.incident is not None and self._still_there(track, views):
            # Hysteresis: a plume already reported needs only to stay where it is to go on.
            rising = max(rising, _HOLD)
        return anchored * rising

    def _still_there(self, track: Track, views: Views) -> bool:
        """Whether a reported plume still churns and still differs from the scene as it was
        before the incident (the learned scene keeps a fading ghost of a plume for a while)."""
        before = self._scenes.get(track.incident or "")
        if before is None or track.churn < _MIN_CHURN:
            return False
        x, y, w, h = track.box
        # Compared in cells, like the motion gate, so a shaking camera's edges do not count.
        cells = (max(1, w // _CELL), max(1, h // _CELL))
        now = cv2.resize(views.grey[y : y + h, x : x + w], cells, interpolation=cv2.INTER_AREA)
        then = cv2.resize(before[y : y + h, x : x + w], cells, interpolation=cv2.INTER_AREA)
        departed = np.abs(now - then) >= self.config.smoke_min_change
        return bool(np.mean(departed) >= _MIN_DEPARTED)

    def _measure_rise(
        self, tracks: list[Track], views: Views, smoke: Bool, churn: Bool, at: float
    ) -> None:
        """Update how fast each seen smoke candidate's content moves up: flow in its box."""
        if not self._past:
            return
        then, before = self._past[0]
        if at <= then:
            return
        height, width = views.grey.shape
        c = self.config
        seen = [t for t in tracks if t.seen and t.kind is DetectionKind.SMOKE]
        for track in seen:
            x, y, w, h = track.box
            inside = np.count_nonzero(smoke[y : y + h, x : x + w])
            share = np.count_nonzero(churn[y : y + h, x : x + w]) / inside if inside else 0.0
            track.churn += _RISE_WEIGHT * (share - track.churn)
        for track in sorted(seen, key=lambda t: t.box[2] * t.box[3], reverse=True)[:_FLOW_TRACKS]:
            rows, cols = clamp_box(track.box, width, height)
            flow = vertical_flow(
                before[rows, cols], views.grey[rows, cols], smoke[rows, cols], c.motion_threshold
            )
            if flow is None:
                continue
            rise = -flow[1] / height / (at - then)
            track.rise += _RISE_WEIGHT * (rise - track.rise)

    def _remember_scenes(
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

    def _snap(self, frame: Frame) -> bytes:
        c = self.config
        return encode_snapshot(frame, quality=c.snapshot_quality, max_side=c.snapshot_max_side)
