"""Candidate regions followed from frame to frame by overlap, with where they went and how fast."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

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
    score: float | None = None  # the verifier's latest word (None: not asked yet)
    scored_at: float = float("-inf")
    incident: str | None = None  # the event id this track supports, if any
    seen: bool = False  # matched in the current frame
    history: deque[tuple[float, Box]] = field(default_factory=deque)

    @property
    def age_s(self) -> float:
        """Time since the track began."""
        return self.last_at - self.first_at

    def drift(self, width: int) -> float:
        """How fast the box centre moved over the kept history, in frame widths per second."""
        if len(self.history) < 2:
            return 0.0
        (t0, a), (t1, b) = self.history[0], self.history[-1]
        if t1 <= t0:
            return 0.0
        dx = (b[0] + b[2] / 2) - (a[0] + a[2] / 2)
        dy = (b[1] + b[3] / 2) - (a[1] + a[3] / 2)
        return float((dx * dx + dy * dy) ** 0.5) / width / (t1 - t0)

    def top_rise(self, height: int) -> float:
        """How fast the top of the box climbed over the kept history (frame heights a second)."""
        if len(self.history) < 2:
            return 0.0
        (t0, a), (t1, b) = self.history[0], self.history[-1]
        if t1 - t0 < _MIN_SPAN_S:
            return 0.0
        return (a[1] - b[1]) / height / (t1 - t0)

    def base_spread(self, width: int) -> float:
        """How far the bottom-centre of the box wandered over the kept history, in frame widths."""
        if not self.history:
            return 0.0
        xs = [x + w / 2 for _, (x, _y, w, _h) in self.history]
        ys = [y + h for _, (_x, y, _w, h) in self.history]
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
        for region in sorted(regions, key=lambda r: r.area, reverse=True):
            found = self._best(region)
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
                )
                self._next += 1
                self.tracks.append(track)
                continue
            track = found
            if track.seen:
                # A second blob of the same candidate this frame (a plume in pieces): join them.
                track.box = union(track.box, region.box)
                track.strength = max(track.strength, region.strength)
            else:
                track.box = region.box
                track.strength = region.strength
            track.seen = True
            track.last_at = at
        for track in self.tracks:
            if track.seen:
                if track.history and track.history[-1][0] == at:
                    track.history[-1] = (at, track.box)
                else:
                    track.history.append((at, track.box))
                while track.history and track.history[0][0] < at - self._history_s:
                    track.history.popleft()
        self.tracks = [t for t in self.tracks if at - t.last_at <= self._ttl_s]
        self._merge_duplicates()

    def _best(self, region: Region) -> Track | None:
        """The oldest track of the region's kind that it overlaps enough (kept in age order)."""
        for track in self.tracks:
            if track.kind == region.kind and overlap(track.box, region.box) >= self._min_overlap:
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
