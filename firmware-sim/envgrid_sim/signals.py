"""Believable virtual sensor signals: baseline, daily cycle, slow drift, noise and incidents."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from statistics import NormalDist
from typing import Protocol

# China keeps one time zone without daylight saving, so a fixed offset is exact and needs no
# tz database; daily cycles follow local (Beijing) time.
CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
_DAY_H = 24.0
_STEPS = 96  # quarter hours in a day
_UNIT = NormalDist()
# Gaussian draws are truncated: sensor noise and drift are bounded in practice, and a hard
# bound lets typical values be guaranteed under the limits, not just probably.
NOISE_CLIP = 3.0
DRIFT_CLIP = 2.5


def local_hour(at: datetime) -> float:
    """Hour of day in China (0 ≤ h < 24) of an aware time."""
    local = at.astimezone(CHINA)
    return local.hour + local.minute / 60 + local.second / 3600 + local.microsecond / 3.6e9


def _hour_distance(a: float, b: float) -> float:
    """Signed distance a − b on the 24-hour circle, in (−12, 12]."""
    d = (a - b) % _DAY_H
    return d - _DAY_H if d > _DAY_H / 2 else d


class Cycle(Protocol):
    """An additive daily pattern: the offset from the baseline at a local hour of day."""

    def offset(self, hour: float) -> float:
        """Offset at ``hour`` (0–24, local time)."""
        ...


@dataclass(frozen=True, slots=True)
class Bump:
    """A daily peak (or dip, with a negative height) centred on a local hour."""

    hour: float
    width_h: float
    height: float

    def at(self, hour: float) -> float:
        """This bump's contribution at ``hour``."""
        d = _hour_distance(hour, self.hour)
        return self.height * math.exp(-0.5 * (d / self.width_h) ** 2)


@dataclass(frozen=True, slots=True)
class DailyCycle:
    """A smooth day: one sinusoid peaking at ``peak_hour`` plus any number of bumps."""

    amplitude: float = 0.0
    peak_hour: float = 14.0
    bumps: tuple[Bump, ...] = ()

    def offset(self, hour: float) -> float:
        """Offset at ``hour``."""
        wave = self.amplitude * math.cos(2 * math.pi * _hour_distance(hour, self.peak_hour) / 24)
        return wave + sum(b.at(hour) for b in self.bumps)


FLAT = DailyCycle()


@dataclass(frozen=True, slots=True)
class Sawtooth:
    """Something that accumulates through the day and is emptied at a fixed hour (a bin).

    The offset is ``amount`` times the share of the day's activity since the last emptying:
    activity is a small constant plus the bumps (meal times fill bins faster than nights).
    """

    reset_hour: float
    amount: float
    activity: tuple[Bump, ...] = ()
    base_activity: float = 0.15
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Share of the day's activity done at each 15 minutes after emptying, computed once.
        total, shares = 0.0, [0.0]
        for i in range(_STEPS):
            total += self._rate(self.reset_hour + (i + 0.5) * _DAY_H / _STEPS)
            shares.append(total)
        object.__setattr__(self, "_cumulative", tuple(x / total for x in shares))

    def _rate(self, hour: float) -> float:
        return self.base_activity + sum(b.at(hour) for b in self.activity)

    def offset(self, hour: float) -> float:
        """Offset at ``hour``: near 0 just after emptying, ``amount`` just before the next."""
        position = (hour - self.reset_hour) % _DAY_H / _DAY_H * _STEPS
        i = min(int(position), _STEPS - 1)
        share = self._cumulative[i] + (self._cumulative[i + 1] - self._cumulative[i]) * (
            position - i
        )
        return self.amount * share


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


def _gauss(*key: object) -> float:
    """A standard normal draw fixed by ``key`` (same key, same number, on every machine)."""
    digest = hashlib.blake2b("|".join(map(str, key)).encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 0.5) / 2**64
    return _UNIT.inv_cdf(u)


def _clipped(x: float, bound: float) -> float:
    return max(-bound, min(bound, x))


class NodeSignals:
    """The signals of one node: deterministic for its seed, node id and the time asked for."""

    def __init__(
        self,
        node_id: str,
        signals: Mapping[str, MetricSignal],
        *,
        seed: int = 0,
        load: float = 1.0,
        phase_h: float = 0.0,
    ) -> None:
        self.node_id = node_id
        self.signals = dict(signals)
        self.seed = seed
        self.load = load
        self.phase_h = phase_h
        self._incidents: list[Incident] = []

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics this node measures, in order."""
        return tuple(self.signals)

    @property
    def incidents(self) -> tuple[Incident, ...]:
        """Incidents injected so far (ended ones included until :meth:`forget_before`)."""
        return tuple(self._incidents)

    def inject(self, incident: Incident) -> None:
        """Add an incident; it affects values at times inside its window."""
        if incident.metric not in self.signals:
            raise ValueError(
                f"node {self.node_id} does not measure {incident.metric!r} "
                f"(it measures {', '.join(self.signals)})"
            )
        self._incidents.append(incident)

    def forget_before(self, at: datetime) -> None:
        """Drop incidents that ended before ``at`` (keeps a long run from accumulating them)."""
        self._incidents = [i for i in self._incidents if i.end > at]

    def _drift(self, metric: str, spec: MetricSignal, at: datetime) -> float:
        if spec.drift_sd == 0:
            return 0.0
        # Random knots every drift_period, joined by cosine interpolation: a slow wander that
        # is the same whenever it is asked for, so restarts and replays see the same curve.
        position = at.timestamp() / spec.drift_period.total_seconds()
        k = math.floor(position)
        frac = position - k
        group = spec.drift_group or metric
        a, b = (
            _clipped(_gauss(self.seed, self.node_id, group, "drift", i), DRIFT_CLIP)
            for i in (k, k + 1)
        )
        w = (1 - math.cos(math.pi * frac)) / 2
        return spec.drift_sd * (a + (b - a) * w)

    def _noise(self, metric: str, spec: MetricSignal, at: datetime) -> float:
        if spec.noise_sd == 0:
            return 0.0
        ms = round(at.timestamp() * 1000)
        return spec.noise_sd * _clipped(
            _gauss(self.seed, self.node_id, metric, "noise", ms), NOISE_CLIP
        )

    def normal_value(self, metric: str, at: datetime) -> float:
        """The value without incidents, unrounded and unclamped."""
        spec = self.signals[metric]
        hour = (local_hour(at) - self.phase_h) % _DAY_H
        level = (spec.baseline + spec.cycle.offset(hour)) * spec.load_factor(self.load)
        return level + self._drift(metric, spec, at) + self._noise(metric, spec, at)

    def value(self, metric: str, at: datetime) -> float:
        """The reading of ``metric`` at ``at``: incidents applied, clamped, rounded."""
        spec = self.signals[metric]
        active = [i for i in self._incidents if i.metric == metric and i.weight(at) > 0]
        stuck = next((i for i in active if i.stuck), None)
        when = stuck.start if stuck is not None else at
        raw = self.normal_value(metric, when)
        for incident in active:
            if not incident.stuck:
                raw = incident.apply(raw, at)
        return round(max(spec.low, min(spec.high, raw)), spec.decimals)

    def sample(self, at: datetime) -> dict[str, float]:
        """Every metric's reading at ``at``."""
        return {metric: self.value(metric, at) for metric in self.signals}
