"""What an enterprise's monitors measure: HJ 212 factor codes and how their values behave."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from envgrid_common.metrics import BY_HJ212_CODE
from envgrid_common.signals import Bump, DailyCycle, MetricSignal


class SourceKind(StrEnum):
    """The kind of discharge point a station watches, which sets its ST (表 5)."""

    EFFLUENT = "effluent"  # ST=32, 地表水体环境污染源: a wastewater outfall
    FLUE_GAS = "flue_gas"  # ST=31, 大气环境污染源: a stack (CEMS)


@dataclass(frozen=True, slots=True)
class Factor:
    """One monitored factor: its 2017 and 2005 codes and the signal of its real-time value.

    Values are in the unit the standard sends the code in (附录 B), e.g. mg/m³ for SO₂ at a
    stack; ``cumulative`` factors (flows) also carry ``-Cou``, the volume over a window.
    """

    code_2017: str
    code_2005: str
    signal: MetricSignal
    cumulative: bool = False

    def code(self, modern: bool) -> str:
        """The code a 2017/2025 device (``modern``) or a 2005 device sends."""
        return self.code_2017 if modern else self.code_2005

    @property
    def metric(self) -> str:
        """The metric the gateway turns this factor into (``cod`` for w01018)."""
        return BY_HJ212_CODE[self.code_2017].name


# A factory's day shift: production and so discharge rise from 08:00 to 18:00.
_SHIFT = (Bump(10.0, 2.5, 1.0), Bump(15.0, 2.5, 0.9))


def _signal(
    baseline: float,
    shift: float,
    drift_sd: float,
    noise_sd: float,
    decimals: int,
    *,
    high: float = 100_000.0,
) -> MetricSignal:
    bumps = tuple(Bump(b.hour, b.width_h, b.height * shift) for b in _SHIFT)
    return MetricSignal(
        baseline,
        DailyCycle(bumps=bumps),
        drift_sd=drift_sd,
        noise_sd=noise_sd,
        high=high,
        decimals=decimals,
    )


# Typical values for a treated industrial outfall (GB 8978-1996 grade 1: COD 100, NH3-N 15
# mg/L, pH 6-9) and a coal-fired boiler stack after desulphurisation and denitrification
# (GB 13271-2014 special limits: SO2 50, NOx 150, dust 20 mg/m³); kept under those limits.
_FACTORS: dict[SourceKind, tuple[Factor, ...]] = {
    SourceKind.EFFLUENT: (
        Factor("w00000", "B01", _signal(12.0, 4.0, 0.8, 0.4, 2), cumulative=True),
        Factor("w01001", "001", _signal(7.2, 0.0, 0.1, 0.03, 2, high=14.0)),
        Factor("w01018", "011", _signal(48.0, 8.0, 4.0, 1.5, 1)),
        Factor("w21003", "060", _signal(3.1, 0.8, 0.3, 0.1, 3)),
    ),
    SourceKind.FLUE_GAS: (
        Factor("a00000", "B02", _signal(38.0, 6.0, 1.5, 0.5, 1), cumulative=True),
        Factor("a19001", "S01", _signal(9.5, 0.0, 0.3, 0.1, 1, high=21.0)),
        Factor("a21026", "02", _signal(18.0, 4.0, 2.0, 0.8, 2)),
        Factor("a21002", "03", _signal(62.0, 10.0, 5.0, 2.0, 1)),
        Factor("a34013", "01", _signal(6.5, 1.0, 0.6, 0.3, 1)),
    ),
}

SYSTEM_CODES: Mapping[SourceKind, str] = MappingProxyType(
    {SourceKind.EFFLUENT: "32", SourceKind.FLUE_GAS: "31"}
)


def factors_of(kind: SourceKind) -> tuple[Factor, ...]:
    """The factors a station of ``kind`` reports, in reporting order."""
    return _FACTORS[kind]
