"""How one metric behaves at a kind of place, and incidents that make it misbehave."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from envgrid_common.signals.cycles import FLAT, Cycle


@dataclass(frozen=True, slots=True)
class MetricSignal:
    """How one metric behaves at one kind of place.

    value = (baseline + cycle) × load factor + drift + noise, then clamped to [low, high];
    the load factor is ``1 + load_sensitivity × (load − 1)`` for a node's ``load``. Metrics
    of one node with the same ``drift_group`` wander together (e.g. both PM sizes follow the
    weather).
    """

    baseline: float
    cycle: Cycle = FLAT
    drift_sd: float = 0.0
    drift_period: timedelta = timedelta(hours=6)
    drift_group: str | None = None
    noise_sd: float = 0.0
    low: float = 0.0
    high: float = math.inf
    decimals: int = 2
    load_sensitivity: float = 1.0

    def load_factor(self, load: float) -> float:
        """Multiplier of baseline and cycle at a node with this ``load``."""
        return 1 + self.load_sensitivity * (load - 1)


@dataclass(frozen=True, slots=True)
class Incident:
    """A deliberate excursion of one metric, e.g. a leak that multiplies COD by 3 for an hour.

    The effect fades in over ``ramp`` and out over ``ramp`` (inside ``duration``), so the
    value climbs like a real discharge rather than jumping. ``stuck`` freezes the value as it
    was at ``start`` instead (a hung sensor, 恒值).
    """

    metric: str
    start: datetime
    duration: timedelta
    factor: float = 1.0
    offset: float = 0.0
    ramp: timedelta = timedelta(0)
    stuck: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("incident start must be an aware datetime")
        if self.duration <= timedelta(0):
            raise ValueError("incident duration must be positive")
        if self.ramp < timedelta(0) or 2 * self.ramp > self.duration:
            raise ValueError("incident ramp must be between 0 and half the duration")

    @property
    def end(self) -> datetime:
        """When the incident is over."""
        return self.start + self.duration

    def describe(self) -> str:
        """One line for a log: ``cod ×3 +0 from … for 0:10:00``."""
        return (
            f"{self.metric} ×{self.factor:g} {self.offset:+g} from "
            f"{self.start.isoformat(timespec='seconds')} for {self.duration}"
            + (" (stuck)" if self.stuck else "")
        )

    def weight(self, at: datetime) -> float:
        """How much of the effect applies at ``at``: 0 outside, 1 at full strength."""
        if not self.start <= at < self.end:
            return 0.0
        if self.ramp <= timedelta(0):
            return 1.0
        edge = min(at - self.start, self.end - at)
        return min(1.0, edge / self.ramp)

    def apply(self, value: float, at: datetime) -> float:
        """``value`` changed by this incident at ``at`` (``stuck`` is handled by the caller)."""
        w = self.weight(at)
        return value * (1 + (self.factor - 1) * w) + self.offset * w
