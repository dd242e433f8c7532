"""Acceptance on the simulator's synthetic clips, judged as the camera agent runs the detector.

Every clip in the catalogue, at least two seeds: the frames reach the detector as a camera
delivers them (JPEG-compressed, at the virtual camera's quality and at the low end of what
cameras send), at the agent's default analysis rate and width, and the detector is the one
``make_detector`` builds (temporal cues with the learned verifier). A burn clip must raise
exactly one incident (one ``new``, one ``end``, one event id) whose ``new`` comes within 10 s
of ignition and whose ``end`` comes after the fire is out; a look-alike clip must raise nothing.
The first seed is also judged on the raw rendered frames, from the same rendering.

ENVGRID_CLIP_SEEDS (e.g. ``0-9`` or ``0,3,7``) widens the sweep; the suite runs seeds 0 and 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from envgrid_common.messages import DetectionPhase
from envgrid_edge.camera.config import AnalysisConfig, CameraConfig, MaskConfig
from envgrid_edge.camera.events import CameraEvent, Frame, FrameDetector
from envgrid_edge.camera.factory import make_detector
from envgrid_edge.camera.masks import build_mask

clips = pytest.importorskip("envgrid_sim.clips", reason="the simulator's clips are not installed")

WITHIN_S = 10.0
SIZE = (640, 480)
# The agent's defaults: what it analyses unless a node file says otherwise.
RATE_FPS = AnalysisConfig().rate_fps
# JPEG quality per seed, in turn: the virtual camera's (envgrid_sim.camera) and a cheap camera's.
QUALITIES = (85, 70)


def _seeds() -> list[int]:
    """The seeds to judge every clip on: ENVGRID_CLIP_SEEDS, else 0 and 1."""
    spec = os.environ.get("ENVGRID_CLIP_SEEDS", "").strip()
    if not spec:
        return [0, 1]
    seeds: list[int] = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return sorted(set(seeds))


SEEDS = _seeds()


def _agent_detector() -> FrameDetector:
    """The detector exactly as the camera agent gets it for a node with default settings."""
    config = CameraConfig.model_validate(
        {
            "node_id": "clip-acceptance-cam",
            "source": {"type": "file", "path": "clip.avi"},
            "mqtt_url": "mqtt://127.0.0.1:1883",
            "topic_root": "envgrid-test",
            "log_level": "INFO",
        }
    )
    assert config.analysis.width == SIZE[0], "the clips are rendered at the analysed width"
    return make_detector(config, build_mask(MaskConfig(), SIZE, SIZE))


def _as_delivered(frame: Frame, quality: int) -> Frame:
    """``frame`` after a camera's JPEG encoding and the agent's decoding."""
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), dtype=np.uint8)


def _judge(
    events: list[CameraEvent], ignition_s: float | None, extinguished_s: float | None, label: str
) -> str | None:
    """What is wrong with ``events`` for a clip burning from ``ignition_s`` (None: nothing)."""
    summary = [
        (e.phase.value, e.kind.value, round(e.at, 1), round(e.confidence, 2)) for e in events
    ]
    if ignition_s is None:
        return None if not events else f"{label}: a look-alike raised {summary}"
    assert extinguished_s is not None
    news = [e for e in events if e.phase is DetectionPhase.NEW]
    ends = [e for e in events if e.phase is DetectionPhase.END]
    if len(news) != 1 or len(ends) != 1 or len({e.event_id for e in events}) != 1:
        return f"{label}: not exactly one incident: {summary}"
    if not ignition_s <= news[0].at <= ignition_s + WITHIN_S:
        return f"{label}: new not within {WITHIN_S} s of ignition at {ignition_s} s: {summary}"
    if ends[0].at < extinguished_s:
        return f"{label}: ended before the fire was out at {extinguished_s} s: {summary}"
    return None


def _runs(name: str, seed: int) -> Iterator[tuple[str, list[CameraEvent]]]:
    """The events of the detectors judging one rendering of ``name``: JPEG, and raw on seed 0."""
    clip = clips.render(name, seed=seed, size=SIZE, fps=RATE_FPS)
    quality = QUALITIES[seed % len(QUALITIES)]
    detectors = {f"JPEG q{quality}": _agent_detector()}
    if seed == SEEDS[0]:
        detectors["raw"] = _agent_detector()
    events: dict[str, list[CameraEvent]] = {label: [] for label in detectors}
    at = 0.0
    for index, frame in enumerate(clip.frames()):
        at = index / clip.fps
        for label, detector in detectors.items():
            shown = frame if label == "raw" else _as_delivered(frame, quality)
            events[label] += detector.process(shown, at)
    for label, detector in detectors.items():
        events[label] += detector.finish(at)  # as the agent does when its source ends
        yield label, events[label]


@pytest.mark.slow  # each clip takes several seconds; the whole grid a few minutes
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(clips.CLIPS))
def test_clip(name: str, seed: int) -> None:
    spec = clips.CLIPS[name]
    problems = []
    for label, events in _runs(name, seed):
        steps = " ".join(f"{e.phase.value}@{e.at:.1f}s({e.confidence:.2f})" for e in events)
        print(f"{name} seed {seed} {label}: {steps or 'nothing'}")  # shown by pytest -rP
        problem = _judge(
            events, spec.ignition_s, spec.extinguished_s, f"{name} seed {seed} {label}"
        )
        if problem is not None:
            problems.append(problem)
    assert not problems, "\n".join(problems)
