"""Candidates over time: tracks by overlap, M-of-N persistence, and incidents from new to end."""

from __future__ import annotations

import pytest

from envgrid_common.messages import DetectionKind, DetectionPhase
from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.incidents import IncidentBook
from envgrid_edge.camera.detector.persistence import Votes
from envgrid_edge.camera.detector.regions import Region, overlap
from envgrid_edge.camera.detector.tracks import Tracker
from envgrid_edge.camera.events import Box

SMOKE = DetectionKind.SMOKE
FLAME = DetectionKind.FLAME


def _region(box: Box, kind: DetectionKind = SMOKE) -> Region:
    return Region(kind, box, box[2] * box[3], 1.0)


def test_votes_start_after_m_of_n_and_forget_old_frames() -> None:
    votes = Votes(m=3, n=5)
    for agrees in (True, False, True):
        votes.push(1.0 if agrees else 0.0, agrees)
    assert not votes.started
    votes.push(0.8, True)
    assert votes.started
    # Persisted as long as a start needs: the agreeing frames' evidence, undiminished.
    assert votes.confidence == pytest.approx((1.0 + 1.0 + 0.8) / 3)
    for _ in range(3):
        votes.push(0.0, False)
    assert not votes.started
    # Support thinning out: 2 of the 3 needed agree in the window.
    assert votes.confidence == pytest.approx((1.0 + 0.8) / 2 * 2 / 3)


def test_overlap_is_shared_area_over_the_smaller_box() -> None:
    assert overlap((0, 0, 10, 10), (5, 0, 10, 10)) == 0.5
    assert overlap((0, 0, 10, 10), (2, 2, 3, 3)) == 1.0
    assert overlap((0, 0, 10, 10), (20, 20, 3, 3)) == 0.0


def test_tracker_follows_an_overlapping_region_and_drops_a_lost_one() -> None:
    tracker = Tracker(m=2, n=3, min_overlap=0.3, ttl_s=1.0, history_s=4.0)
    tracker.update([_region((10, 10, 20, 20))], 0.0)
    tracker.update([_region((12, 10, 20, 20)), _region((100, 100, 5, 5))], 0.1)
    assert [t.number for t in tracker.tracks] == [1, 2]
    assert tracker.tracks[0].box == (12, 10, 20, 20)
    tracker.update([_region((14, 10, 20, 20), FLAME)], 0.2)  # another kind: its own track
    assert [t.kind for t in tracker.tracks] == [SMOKE, SMOKE, FLAME]
    tracker.update([], 1.15)
    assert [t.number for t in tracker.tracks] == [3]


def test_tracks_measure_drift_base_and_rising_top() -> None:
    tracker = Tracker(m=2, n=3, min_overlap=0.3, ttl_s=1.0, history_s=10.0)
    for i in range(21):
        t = i / 10
        # A plume: base fixed at y = 100, top climbing 10 px/s.
        tracker.update([_region((50, 60 - 10 * round(t), 20, 40 + 10 * round(t)))], t)
    (plume,) = tracker.tracks
    assert plume.base_spread(320) == 0.0
    assert plume.growth(240) == pytest.approx(10 / 240, rel=0.2)
    assert plume.drift(320) > 0  # its centre moves up as it grows
    tracker = Tracker(m=2, n=3, min_overlap=0.3, ttl_s=1.0, history_s=10.0)
    for i in range(21):
        tracker.update([_region((10 + 3 * i, 60, 20, 20))], i / 10)  # a car, 30 px/s
    (car,) = tracker.tracks
    assert car.drift(320) == 30 / 320
    assert car.base_spread(320) == 60 / 320


def test_a_plume_cut_in_two_stays_one_track_with_its_foot() -> None:
    tracker = Tracker(m=2, n=3, min_overlap=0.3, ttl_s=1.0, history_s=10.0)
    for i in range(10):
        tracker.update([_region((50, 20, 40, 80))], i / 10)  # a plume from y = 20 to its foot
    # A treeline cuts it: a bigger top piece (matched first) and the foot piece, both inside
    # where the plume was, though neither overlaps the other.
    tracker.update([_region((52, 20, 38, 45)), _region((55, 68, 30, 32))], 1.0)
    (plume,) = tracker.tracks
    assert plume.box == (52, 20, 38, 80)
    assert plume.base[1] == 100  # its foot, not the top piece's bottom
    assert plume.base_spread(320) < 0.02


def test_incident_opens_once_then_ends_after_quiet() -> None:
    config = DetectorConfig(m=2, n=3, end_quiet_s=2.0, update_min_interval_s=1.0)
    book = IncidentBook(config, "run")
    tracker = Tracker(m=2, n=3, min_overlap=0.3, ttl_s=5.0, history_s=4.0)
    events = []
    for i in range(60):
        t = i / 10
        present = t < 3.0
        tracker.update([_region((50, 50, 20, 20))] if present else [], t)
        for track in tracker.tracks:
            track.votes.push(0.8 if track.seen else 0.0, track.seen)
        events += book.step(tracker.tracks, t, lambda b: b, lambda: b"jpeg")
    phases = [(e.phase, e.event_id) for e in events]
    assert phases[0] == (DetectionPhase.NEW, "run-1")
    assert phases[-1] == (DetectionPhase.END, "run-1")
    assert [p for p, _ in phases].count(DetectionPhase.NEW) == 1
    assert events[0].snapshot == b"jpeg"
    assert events[-1].snapshot is None
    assert 4.9 <= events[-1].at <= 5.1  # last support at 2.9 s, then 2 s of quiet


def test_candidate_above_an_open_incident_joins_it() -> None:
    config = DetectorConfig(m=1, n=1)
    book = IncidentBook(config, "run")
    tracker = Tracker(m=1, n=1, min_overlap=0.3, ttl_s=5.0, history_s=4.0)
    tracker.update([_region((100, 150, 60, 10), FLAME)], 0.0)
    for track in tracker.tracks:
        track.votes.push(0.9, True)
    first = book.step(tracker.tracks, 0.0, lambda b: b, lambda: b"")
    tracker.update([_region((100, 150, 60, 10), FLAME), _region((130, 40, 30, 60))], 0.1)
    for track in tracker.tracks:
        track.votes.push(0.9, True)
    second = book.step(tracker.tracks, 0.1, lambda b: b, lambda: b"")
    assert [e.phase for e in first] == [DetectionPhase.NEW]
    assert second == []
    assert {t.incident for t in tracker.tracks} == {"run-1"}
