"""Candidate regions followed from frame to frame by overlap, with where they went and how fast."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from envgrid_common.messages import DetectionKind
from envgrid_edge.camera.detector.persistence import Votes
from envgrid_edge.camera.detector.regions import Region, overlap, union
from envgrid_edge.camera.events import Box

# Two live tracks of one kind overlapping this much are one candidate seen twice.
_TWINS = 0.6
# Speeds are not judged over less history than this.
_MIN_SPAN_S = 1.0


@dataclass
class Track:
    """One candidate over time: its boxes, its votes, and what the verifier said of it."""

    number: int
    kind: DetectionKind
    box: Box
    first_at: float
    last_at: float
    votes: Votes
    strength: float = 0.0
    rise: float = 0.0  # frame heights per second, upward positive (smoke)
    churn: float = 0.0  # share of its pixels that changed lately (smoke keeps moving)
    score: float | None = None  # the verifier's latest word (None: not asked yet)
    scored_at: float = float("-inf")
    incident: str | None = None  # the event id this track supports, if any
    seen: bool = False  # matched in the current frame
    base: tuple[float, float] = (0.0, 0.0)  # where it meets the ground (see Region.foot)
    base_width: int = 0  # how wide it is there
    history: deque[tuple[float, Box, tuple[float, float]]] = field(default_factory=deque)

    @property
    def age_s(self) -> float:
        """Time since the track began."""
        return self.last_at - self.first_at

    def drift(self, width: int) -> float:
        """How fast the box centre moved over the kept history, in frame widths per second."""
        if len(self.history) < 2:
            return 0.0
        (t0, a, _), (t1, b, _) = self.history[0], self.history[-1]
        if t1 <= t0:
            return 0.0
        dx = (b[0] + b[2] / 2) - (a[0] + a[2] / 2)
        dy = (b[1] + b[3] / 2) - (a[1] + a[3] / 2)
        return float((dx * dx + dy * dy) ** 0.5) / width / (t1 - t0)

    def growth(self, height: int) -> float:
        """How fast the blob grew upward from its base (least-squares slope over the history,
        so one merged or lost fragment does not count), in frame heights per second."""
        if len(self.history) < 3 or self.history[-1][0] - self.history[0][0] < _MIN_SPAN_S:
            return 0.0
        ts = np.array([t for t, _, _ in self.history])
        tall = np.array([base[1] - box[1] for _, box, base in self.history], dtype=np.float64)
        ts -= ts.mean()
        slope = float((ts * (tall - tall.mean())).sum() / (ts * ts).sum())
        return slope / height

    def base_spread(self, width: int) -> float:
        """How far the base wandered over the kept history, in frame widths."""
        if not self.history:
            return 0.0
        xs = [base[0] for _, _, base in self.history]
        ys = [base[1] for _, _, base in self.history]
        return max(max(xs) - min(xs), max(ys) - min(ys)) / width


class Tracker:
    """Matches each frame's regions to live tracks of the same kind; drops tracks gone too long."""

    def __init__(self, m: int, n: int, min_overlap: float, ttl_s: float, history_s: float) -> None:
        self._m, self._n = m, n
        self._min_overlap = min_overlap
        self._ttl_s = ttl_s
        self._history_s = history_s
        self._next = 1
        self.tracks: list[Track] = []

    def reset(self) -> None:
        """Forget every track."""
        self.tracks.clear()

    def update(self, regions: list[Region], at: float) -> None:
        """Attach regions to tracks (or start tracks), then forget the stale ones."""
        for track in self.tracks:
            track.seen = False
        # Regions are matched against where each track was before this frame: a plume that
        # breaks into pieces (a treeline or a compression block cuts it) keeps all of them,
        # its foot included, however the first piece matched reshaped its box.
        before = {t.number: t.box for t in self.tracks}
        for region in sorted(regions, key=lambda r: r.area, reverse=True):
            found = self._best(region, before)
            if found is None:
                track = Track(
                    number=self._next,
                    kind=region.kind,
                    box=region.box,
                    first_at=at,
                    last_at=at,
                    votes=Votes(self._m, self._n),
                    strength=region.strength,
                    seen=True,
                    base=region.foot,
                    base_width=region.foot_width,
                )
                self._next += 1
                self.tracks.append(track)
                continue
            track = found
            if track.seen:
                # A second blob of the same candidate this frame (a plume in pieces): join them.
                track.box = union(track.box, region.box)
                track.strength = max(track.strength, region.strength)
                if region.foot[1] > track.base[1]:
                    track.base = region.foot  # the lowest piece is where it leaves the ground
                    track.base_width = region.foot_width
            else:
                track.box = region.box
                track.strength = region.strength
                track.base = region.foot
                track.base_width = region.foot_width
            track.seen = True
            track.last_at = at
        for track in self.tracks:
            if track.seen:
                if track.history and track.history[-1][0] == at:
                    track.history[-1] = (at, track.box, track.base)
                else:
                    track.history.append((at, track.box, track.base))
                while track.history and track.history[0][0] < at - self._history_s:
                    track.history.popleft()
        self.tracks = [t for t in self.tracks if at - t.last_at <= self._ttl_s]
        self._merge_duplicates()

    def _best(self, region: Region, before: dict[int, Box]) -> Track | None:
        """The oldest track of the region's kind whose box before this frame it overlaps enough
        (tracks are kept in age order)."""
        for track in self.tracks:
            box = before.get(track.number, track.box)
            if track.kind == region.kind and overlap(box, region.box) >= self._min_overlap:
                return track
        return None

    def _merge_duplicates(self) -> None:
        """Drop a younger track that now covers the same ground as an older one of its kind."""
        kept: list[Track] = []
        for track in self.tracks:
            twin = next(
                (
                    k
                    for k in kept
                    if k.kind == track.kind
                    and k.seen
                    and track.seen
                    and overlap(k.box, track.box) >= _TWINS
                ),
                None,
            )
            if twin is None:
                kept.append(track)
            elif track.incident is not None and twin.incident is None:
                twin.incident = track.incident
        self.tracks = kept
