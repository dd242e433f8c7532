"""The temporal detector: motion gate, flame and smoke cues, tracks, persistence, incidents."""

from __future__ import annotations

import re

import numpy as np

from envgrid_common.clock import WallClock, utc_now
from envgrid_common.messages import DetectionKind
from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.flame import FlameCue
from envgrid_edge.camera.detector.flicker import FlickerMap
from envgrid_edge.camera.detector.fusion import ScorerBudget, fuse
from envgrid_edge.camera.detector.incidents import IncidentBook
from envgrid_edge.camera.detector.motion import MotionGate
from envgrid_edge.camera.detector.plume import PlumeJudge, ramp
from envgrid_edge.camera.detector.smoke import SmokeCue
from envgrid_edge.camera.detector.snapshot import encode_snapshot
from envgrid_edge.camera.detector.tracks import Track, Tracker
from envgrid_edge.camera.detector.views import (
    Bool,
    Views,
    analysis_size,
    make_views,
    scale_box,
    shrink_mask,
)
from envgrid_edge.camera.events import Box, CameraEvent, Frame, Mask, RegionScorer

_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


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
        self._plumes = PlumeJudge(self.config)
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
            self._plumes.see(views, at)
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
        if smoke is not None:
            held = self._plumes.measure(tracks, views, smoke, at)
        evidence = {t.number: self._evidence(t, views) for t in tracks}
        self._scorer.ask(frame, tracks, evidence, at, views.to_input)
        for track in tracks:
            confidence, vetoed = fuse(
                evidence[track.number], track.score, self.config, waiting=self._scorer.present
            )
            agrees = track.seen and not vetoed and confidence >= self.config.evidence_on
            track.votes.push(confidence if track.seen else 0.0, agrees)
        events.extend(self._incidents.step(tracks, at, views.to_input, lambda: self._snap(frame)))
        self._plumes.remember(events, tracks, background, at)
        self._gate.learn(views.grey, at, held)
        self._smoke.learn(views, at, held)
        self._plumes.see(views, at)
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
        self._incidents.reach = round(self.config.merge_reach * self._size[0])

    def _reset(self) -> None:
        self._gate.reset()
        self._flicker.reset()
        self._flame.reset()
        self._smoke.reset()
        self._tracker.reset()
        self._scorer.reset()
        self._plumes.reset()
        self._input_shape = None
        self._size = None

    def _evidence(self, track: Track, views: Views) -> float:
        """This frame's temporal evidence for a track, 0..1 (0 when it was not seen)."""
        if not track.seen:
            return 0.0
        if track.kind is DetectionKind.FLAME:
            c = self.config
            drift = track.drift(views.grey.shape[1])
            return track.strength * ramp(drift, c.max_drift, 2 * c.max_drift)
        return self._plumes.evidence(track, views)

    def _snap(self, frame: Frame) -> bytes:
        c = self.config
        return encode_snapshot(frame, quality=c.snapshot_quality, max_side=c.snapshot_max_side)
