"""A station's values: real-time samples and the Min/Avg/Max/Cou of a window, as CP factors."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from envgrid_common.signals import Incident, NodeSignals
from envgrid_sim.hj212.factors import Factor

Factors = dict[str, dict[str, str]]
"""Code → {field (Rtd, Avg, Flag, ...) → value as sent}."""


class StationValues:
    """The factors of one station, from the project's signal generator (deterministic)."""

    def __init__(
        self,
        station_id: str,
        factors: tuple[Factor, ...],
        *,
        seed: int = 0,
        sample_every: timedelta = timedelta(seconds=30),
    ) -> None:
        self.factors = factors
        self.sample_every = sample_every
        self.signals = NodeSignals(station_id, {f.code_2017: f.signal for f in factors}, seed=seed)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics of its factors, as readings name them, in reporting order."""
        return tuple(f.metric for f in self.factors)

    def inject(self, incident: Incident) -> None:
        """Make one factor misbehave; ``incident.metric`` names it as readings do (``cod``)."""
        codes = {f.metric: f.code_2017 for f in self.factors}
        if incident.metric not in codes:
            raise ValueError(
                f"station {self.signals.node_id} measures {', '.join(codes)}, "
                f"not {incident.metric!r}"
            )
        # The signals are keyed by factor code, as the uploads name them.
        self.signals.inject(dataclasses.replace(incident, metric=codes[incident.metric]))

    def _text(self, factor: Factor, value: float) -> str:
        return f"{value:.{factor.signal.decimals}f}"

    def realtime(self, at: datetime, *, modern: bool) -> Factors:
        """The 2011 factors at ``at``: ``-Rtd`` and ``-Flag`` (N: instrument working)."""
        return {
            f.code(modern): {
                "Rtd": self._text(f, self.signals.value(f.code_2017, at)),
                "Flag": "N",
            }
            for f in self.factors
        }

    def window(self, start: datetime, length: timedelta, *, modern: bool) -> Factors:
        """The 2051/2061 factors of ``[start, start + length)``: ``-Min/-Avg/-Max`` (``-Cou``).

        Computed from the real-time samples inside the window, as a 数采仪 does; a flow's
        ``-Cou`` is its volume over the window in m³ (L/s for water, m³/s for flue gas).
        """
        step = min(self.sample_every, length)
        count = max(1, int(length / step))
        out: Factors = {}
        for factor in self.factors:
            values = [self.signals.value(factor.code_2017, start + step * i) for i in range(count)]
            mean = sum(values) / len(values)
            fields: dict[str, str] = {}
            if factor.cumulative:
                per_second = mean / 1000 if factor.code_2017 == "w00000" else mean
                fields["Cou"] = f"{per_second * length.total_seconds():.2f}"
            fields |= {
                "Min": self._text(factor, min(values)),
                "Avg": self._text(factor, mean),
                "Max": self._text(factor, max(values)),
                "Flag": "N",
            }
            out[factor.code(modern)] = fields
        return out
