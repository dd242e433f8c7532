"""Acceptance on the simulator's synthetic clips: one event per burn, soon enough; none otherwise.

Every clip in the catalogue, several seeds: a burn clip must raise exactly one incident (one
``new``, one ``end``, one event id) whose ``new`` comes within 10 s of ignition and whose ``end``
comes after the fire is out; a look-alike clip must raise nothing.
"""

from __future__ import annotations

import pytest

from envgrid_common.messages import DetectionPhase
from envgrid_edge.camera.detector.pipeline import TemporalDetector
from envgrid_edge.camera.events import CameraEvent

clips = pytest.importorskip("envgrid_sim.clips", reason="the simulator's clips are not installed")

SEEDS = (0, 1, 2)
WITHIN_S = 10.0


def _events(name: str, seed: int) -> tuple[list[CameraEvent], float | None, float | None]:
    clip = clips.render(name, seed=seed, size=(640, 480), fps=10.0)
    detector = TemporalDetector()
    events: list[CameraEvent] = []
    at = 0.0
    for index, frame in enumerate(clip.frames()):
        at = index / clip.fps
        events += detector.process(frame, at)
    events += detector.finish(at + 1.0 / clip.fps)
    return events, clip.ignition_s, clip.extinguished_s


@pytest.mark.slow  # each clip takes a few seconds; the whole grid a few minutes
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(clips.CLIPS))
def test_clip(name: str, seed: int) -> None:
    events, ignition_s, extinguished_s = _events(name, seed)
    summary = [(e.phase.value, e.kind.value, round(e.at, 1)) for e in events]
    if ignition_s is None:
        assert events == [], f"{name} seed {seed} raised {summary}"
        return
    assert extinguished_s is not None
    news = [e for e in events if e.phase is DetectionPhase.NEW]
    ends = [e for e in events if e.phase is DetectionPhase.END]
    assert len(news) == 1, summary
    assert len(ends) == 1, summary
    assert len({e.event_id for e in events}) == 1, summary
    assert ignition_s <= news[0].at <= ignition_s + WITHIN_S, summary
    assert ends[0].at >= extinguished_s, summary
