"""Lateness of readings as a fixed histogram: percentiles of millions in constant memory."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Millisecond buckets up to 10 s, then one bucket for anything later.
_BUCKETS = 10_000


@dataclass(slots=True)
class Lateness:
    """How late readings went out against their schedule, in milliseconds."""

    counts: list[int] = field(default_factory=lambda: [0] * (_BUCKETS + 1))
    total: int = 0
    worst_s: float = 0.0

    def add(self, late_s: float) -> None:
        """One reading, ``late_s`` after its slot (early counts as on time; ``inf``: not
        published on schedule at all)."""
        ms = 0 if late_s <= 0 else (int(late_s * 1000) if late_s < _BUCKETS / 1000 else _BUCKETS)
        self.counts[ms] += 1
        self.total += 1
        if late_s > self.worst_s:
            self.worst_s = late_s

    def percentile_s(self, p: float) -> float:
        """The ``p``-th percentile (0–100) in seconds; 10 s or more reads as ``inf``."""
        if not self.total:
            return 0.0
        rank = max(1, math.ceil(self.total * p / 100))
        seen = 0
        for ms, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return math.inf if ms == _BUCKETS else (ms + 1) / 1000
        return math.inf  # pragma: no cover - the counts add up to total

    def within(self, limit_s: float) -> int:
        """Readings no later than ``limit_s``."""
        top = min(_BUCKETS, int(limit_s * 1000))
        return sum(self.counts[:top])

    def reset(self) -> None:
        """Forget everything (a bench's warm-up)."""
        self.counts = [0] * (_BUCKETS + 1)
        self.total = 0
        self.worst_s = 0.0
