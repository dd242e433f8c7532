"""Believable virtual sensor signals: baseline, daily cycle, slow drift, noise and incidents."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import datetime
from statistics import NormalDist

from envgrid_common.signals.cycles import DAY_H, local_hour
from envgrid_common.signals.metric import Incident, MetricSignal

_UNIT = NormalDist()
# Gaussian draws are truncated: sensor noise and drift are bounded in practice, and a hard
# bound lets typical values be guaranteed under the limits, not just probably.
NOISE_CLIP = 3.0
DRIFT_CLIP = 2.5


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
        hour = (local_hour(at) - self.phase_h) % DAY_H
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
