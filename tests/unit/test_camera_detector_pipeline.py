"""The whole temporal detector on small generated scenes: one event per burn, none otherwise."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from envgrid_common.messages import DetectionKind, DetectionPhase
from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.fusion import fuse
from envgrid_edge.camera.detector.pipeline import TemporalDetector
from envgrid_edge.camera.events import Box, CameraEvent, Frame, FrameDetector
from tests.unit import camera_scenes as scenes

START_S = 5.0
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _run(detector: TemporalDetector, actor: scenes.Actor | None, **kw: object) -> list[CameraEvent]:
    events: list[CameraEvent] = []
    last = 0.0
    for t, frame in scenes.frames(actor, seconds=25.0, start_s=START_S, **kw):  # type: ignore[arg-type]
        events += detector.process(frame, t)
        last = t
    return events + detector.finish(last + 0.1)


class FakeScorer:
    """A verifier that always gives the same score, and remembers what it was asked."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.boxes: list[Box | None] = []

    def score(self, frame: Frame, box: Box | None = None) -> dict[DetectionKind, float]:
        self.boxes.append(box)
        # Like the real verifier: probabilities of fire and of smoke (the rest is "neither").
        return {DetectionKind.SMOKE: self.value / 2, DetectionKind.FLAME: self.value / 2}


def _one_incident(events: list[CameraEvent], kind: DetectionKind) -> CameraEvent:
    phases = [e.phase for e in events]
    assert phases.count(DetectionPhase.NEW) == 1, events
    assert phases.count(DetectionPhase.END) == 1, events
    assert phases[0] is DetectionPhase.NEW
    assert phases[-1] is DetectionPhase.END
    assert len({e.event_id for e in events}) == 1
    new = events[0]
    assert new.kind is kind
    assert START_S < new.at <= START_S + 10.0
    assert 0.0 <= new.confidence <= 1.0
    return new


def test_the_detector_is_a_frame_detector() -> None:
    detector: FrameDetector = TemporalDetector()
    assert detector.finish(0.0) == []


@pytest.mark.parametrize("infrared", [False, True], ids=["day", "ir"])
def test_a_rising_plume_raises_one_smoke_event_with_a_snapshot(infrared: bool) -> None:
    wall = datetime(2026, 12, 6, 8, 30, tzinfo=UTC)
    detector = TemporalDetector(id_prefix="cam1", wall=lambda: wall)
    events = _run(detector, scenes.plume(), infrared=infrared)
    new = _one_incident(events, DetectionKind.SMOKE)
    assert ID.match(new.event_id)
    assert new.event_id.startswith("cam1-20261206T083000Z-")
    assert new.box is not None
    x, _y, w, _h = new.box
    assert x <= 160 <= x + w  # the plume's base is at x = 160
    assert new.snapshot is not None
    picture = cv2.imdecode(np.frombuffer(new.snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    assert picture.shape[:2] == (240, 320)


@pytest.mark.parametrize("infrared", [False, True], ids=["day", "ir"])
def test_a_flickering_flame_raises_one_flame_event(infrared: bool) -> None:
    events = _run(TemporalDetector(), scenes.flame(), infrared=infrared)
    _one_incident(events, DetectionKind.FLAME)


@pytest.mark.parametrize(
    "actor",
    [None, scenes.red_box(), scenes.cloud(), scenes.shadow(), scenes.sunset()],
    ids=["quiet", "red-box", "cloud", "shadow", "sunset"],
)
def test_look_alikes_raise_nothing(actor: scenes.Actor | None) -> None:
    assert _run(TemporalDetector(), actor) == []


def test_updates_only_carry_better_evidence_and_are_rate_limited() -> None:
    config = DetectorConfig(update_min_interval_s=3.0)
    events = _run(TemporalDetector(config), scenes.flame())
    updates = [e for e in events if e.phase is DetectionPhase.UPDATE]
    steps = [e for e in events if e.phase is not DetectionPhase.END]
    for before, after in itertools.pairwise(steps):
        assert after.at - before.at >= 3.0
        assert after.confidence >= before.confidence
    assert all(u.snapshot for u in updates)


def test_masked_out_ground_is_not_looked_at() -> None:
    mask = np.full((240, 320), 255, np.uint8)
    mask[:, 60:260] = 0  # the plume rises at x = 160 and widens
    assert _run(TemporalDetector(mask=mask), scenes.plume()) == []


def test_a_sure_verifier_vetoes_and_is_asked_only_about_candidates_now_and_then() -> None:
    scorer = FakeScorer(0.1)
    detector = TemporalDetector(DetectorConfig(scorer_rate_hz=2.0), scorer=scorer)
    assert _run(detector, scenes.plume()) == []
    assert scorer.boxes, "the verifier was never asked"
    assert all(box is not None for box in scorer.boxes)
    assert len(scorer.boxes) <= 2.0 * 25.0 + 1


def test_a_confirming_verifier_keeps_the_event() -> None:
    events = _run(TemporalDetector(scorer=FakeScorer(0.95)), scenes.plume())
    _one_incident(events, DetectionKind.SMOKE)


def test_fusion_blends_a_verifier_score_and_vetoes_on_a_low_one() -> None:
    config = DetectorConfig(scorer_weight=0.4, scorer_veto=0.2)
    assert fuse(0.7, None, config) == (0.7, False)
    blended, vetoed = fuse(0.7, 0.95, config)
    assert blended == pytest.approx(0.6 * 0.7 + 0.4 * 0.95)
    assert not vetoed
    assert fuse(0.99, 0.1, config)[1]
    # With a verifier that has not judged yet, only strong temporal evidence goes ahead.
    assert fuse(0.7, None, config, waiting=True) == (0.7, True)
    assert fuse(0.95, None, config, waiting=True) == (0.95, False)


def test_a_new_frame_size_ends_incidents_and_starts_afresh() -> None:
    detector = TemporalDetector()
    events: list[CameraEvent] = []
    for t, frame in scenes.frames(scenes.flame(), seconds=12.0, start_s=START_S):
        events += detector.process(frame, t)
    assert [e.phase for e in events] == [DetectionPhase.NEW]
    events += detector.process(np.zeros((120, 160, 3), np.uint8), 12.0)
    assert [e.phase for e in events] == [DetectionPhase.NEW, DetectionPhase.END]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="id_prefix"):
        TemporalDetector(id_prefix="cam 1")
    with pytest.raises(ValueError, match="uint8"):
        TemporalDetector().process(np.zeros((10, 10), np.uint8), 0.0)
    with pytest.raises(ValueError, match="must not exceed"):
        DetectorConfig(m=5, n=3)
