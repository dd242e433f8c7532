"""What a node at each kind of site measures, and how those metrics typically behave there.

Typical values are set so that even the worst case (largest load in a scenario, drift and
noise at their clipped extremes) stays under the limits of STANDARDS.md §3; only an injected
incident takes a node over a limit:
- water bodies: GB 3838-2002 class III (DO ≥ 5, CODMn ≤ 6, NH3-N ≤ 1.0, TP ≤ 0.2, pH 6–9);
- farm effluent: GB 18596-2001 表 5 daily means (COD 400, NH3-N 80, TP 8 mg/L);
- odour at farm and refuse-point boundaries: GB 14554-93 表 1 grade II for new sources
  (NH3 1.5, H2S 0.06 mg/m³; from memory, not verified against the text);
- road PM: AQI at most "良" (IAQI ≤ 100: PM2.5 ≤ 75, PM10 ≤ 150 µg/m³).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType

from envgrid_common.metrics import METRICS
from envgrid_common.registry import SiteCategory
from envgrid_common.signals.cycles import Bump, DailyCycle, Sawtooth
from envgrid_common.signals.metric import MetricSignal

# Barns are hosed down morning and late afternoon: effluent strength peaks an hour or two later.
_WASHING = (Bump(8.5, 1.5, 1.0), Bump(17.0, 1.5, 0.75))
# Warm midday air drives ammonia and H2S volatilisation (and bacterial activity).
_WARMTH_PEAK_H = 14.0
# Photosynthesis: DO and pH top out mid-afternoon and bottom out before dawn.
_PHOTOSYNTHESIS_PEAK_H = 15.0
# Morning and evening household discharge reaches the river.
_HOUSEHOLD = (Bump(8.0, 2.0, 1.0), Bump(20.0, 2.5, 0.8))
# Commuter and lorry traffic.
_RUSH = (Bump(8.0, 1.2, 1.0), Bump(18.5, 1.5, 0.85))
# Bins fill fastest after meals.
_MEALS = (Bump(7.5, 1.0, 1.0), Bump(12.0, 1.0, 1.2), Bump(18.5, 1.5, 1.3))
# Village refuse is collected early in the morning (a node's phase_h shifts it).
COLLECTION_HOUR = 6.5


def _scaled(bumps: tuple[Bump, ...], height: float) -> tuple[Bump, ...]:
    return tuple(Bump(b.hour, b.width_h, b.height * height) for b in bumps)


@dataclass(frozen=True, slots=True)
class Profile:
    """A kind of node: where it stands, what it measures and how each metric behaves.

    ``label_zh``/``label_en`` name the node by what it watches at its site (废水排放口);
    ``slug`` ends its node id (``luxi-farm-01-effluent``).
    """

    name: str
    category: SiteCategory
    slug: str
    label_zh: str
    label_en: str
    signals: Mapping[str, MetricSignal]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.signals) - set(METRICS))
        if unknown:
            raise ValueError(f"profile {self.name}: unknown metrics {', '.join(unknown)}")

    @property
    def metrics(self) -> tuple[str, ...]:
        """Canonical names of the metrics, in reporting order."""
        return tuple(self.signals)


def _profile(
    name: str,
    category: SiteCategory,
    slug: str,
    zh: str,
    en: str,
    signals: dict[str, MetricSignal],
) -> Profile:
    return Profile(name, category, slug, zh, en, MappingProxyType(signals))


FARM_EFFLUENT = _profile(
    "farm_effluent",
    SiteCategory.LIVESTOCK_FARM,
    "effluent",
    "废水排放口",
    "effluent outfall",
    {
        "cod": MetricSignal(
            190.0,
            DailyCycle(bumps=_scaled(_WASHING, 45.0)),
            drift_sd=15.0,
            noise_sd=8.0,
            high=2000.0,
            decimals=1,
        ),
        "nh3n": MetricSignal(
            34.0,
            DailyCycle(bumps=_scaled(_WASHING, 7.0)),
            drift_sd=3.0,
            noise_sd=1.5,
            high=500.0,
        ),
        "tp": MetricSignal(
            3.2,
            DailyCycle(bumps=_scaled(_WASHING, 0.7)),
            drift_sd=0.3,
            noise_sd=0.12,
            high=100.0,
        ),
    },
)

FARM_AIR = _profile(
    "farm_air",
    SiteCategory.LIVESTOCK_FARM,
    "air",
    "场界恶臭",
    "boundary odour",
    {
        "nh3": MetricSignal(
            0.45,
            DailyCycle(0.2, _WARMTH_PEAK_H),
            drift_sd=0.06,
            drift_group="weather",
            noise_sd=0.03,
            high=100.0,
            decimals=3,
        ),
        "h2s": MetricSignal(
            0.014,
            DailyCycle(0.006, _WARMTH_PEAK_H),
            drift_sd=0.002,
            drift_group="weather",
            noise_sd=0.0015,
            high=50.0,
            decimals=4,
        ),
    },
)

RIVER = _profile(
    "river",
    SiteCategory.WATER_BODY,
    "wq",
    "水质自动监测站",
    "water quality station",
    {
        "ph": MetricSignal(
            7.45,
            DailyCycle(0.25, _PHOTOSYNTHESIS_PEAK_H),
            drift_sd=0.1,
            noise_sd=0.03,
            high=14.0,
            load_sensitivity=0.0,
        ),
        "do": MetricSignal(
            7.4,
            DailyCycle(0.9, _PHOTOSYNTHESIS_PEAK_H),
            drift_sd=0.15,
            noise_sd=0.08,
            high=20.0,
            # More load downstream means more oxygen demand, so less dissolved oxygen.
            load_sensitivity=-0.3,
        ),
        "codmn": MetricSignal(
            3.3,
            DailyCycle(bumps=_scaled(_HOUSEHOLD[:1], 0.4)),
            drift_sd=0.25,
            noise_sd=0.1,
            high=100.0,
        ),
        "nh3n": MetricSignal(
            0.42,
            DailyCycle(bumps=_scaled(_HOUSEHOLD, 0.1)),
            drift_sd=0.06,
            noise_sd=0.03,
            high=50.0,
            decimals=3,
        ),
        "tp": MetricSignal(
            0.085,
            DailyCycle(bumps=_scaled(_HOUSEHOLD[:1], 0.02)),
            drift_sd=0.012,
            noise_sd=0.005,
            high=10.0,
            decimals=3,
        ),
        "turbidity": MetricSignal(
            18.0,
            DailyCycle(bumps=_scaled(_HOUSEHOLD[:1], 4.0)),
            drift_sd=4.0,
            noise_sd=1.0,
            high=4000.0,
            decimals=1,
        ),
    },
)

REFUSE_POINT = _profile(
    "refuse_point",
    SiteCategory.REFUSE_POINT,
    "bin",
    "满溢及恶臭监测",
    "fill level and odour",
    {
        "fill_level": MetricSignal(
            6.0,
            Sawtooth(COLLECTION_HOUR, 60.0, _MEALS),
            # Some days bring more rubbish than others (market days, festivals).
            drift_sd=3.0,
            drift_period=timedelta(days=1),
            noise_sd=0.8,
            high=100.0,
            decimals=1,
        ),
        "nh3": MetricSignal(
            0.3,
            DailyCycle(0.15, _WARMTH_PEAK_H),
            drift_sd=0.06,
            drift_group="weather",
            noise_sd=0.03,
            high=100.0,
            decimals=3,
        ),
        "h2s": MetricSignal(
            0.01,
            DailyCycle(0.005, _WARMTH_PEAK_H),
            drift_sd=0.002,
            drift_group="weather",
            noise_sd=0.0015,
            high=50.0,
            decimals=4,
        ),
    },
)

ROAD_SECTION = _profile(
    "road_pm",
    SiteCategory.ROAD_SECTION,
    "pm",
    "颗粒物监测",
    "particulate monitor",
    {
        # Both PM sizes follow the same weather (shared drift), so PM10 stays above PM2.5.
        "pm25": MetricSignal(
            26.0,
            DailyCycle(bumps=_scaled(_RUSH, 14.0)),
            drift_sd=4.0,
            drift_group="weather",
            noise_sd=2.0,
            high=1000.0,
            decimals=1,
        ),
        "pm10": MetricSignal(
            58.0,
            DailyCycle(bumps=_scaled(_RUSH, 30.0)),
            drift_sd=8.0,
            drift_group="weather",
            noise_sd=3.0,
            high=2000.0,
            decimals=1,
        ),
    },
)

PROFILES: dict[str, Profile] = {
    p.name: p for p in (FARM_EFFLUENT, FARM_AIR, RIVER, REFUSE_POINT, ROAD_SECTION)
}

CATEGORY_PROFILES: dict[SiteCategory, tuple[Profile, ...]] = {
    # Two nodes at a farm: an analyser at the effluent outfall, a gas sensor at the boundary.
    SiteCategory.LIVESTOCK_FARM: (FARM_EFFLUENT, FARM_AIR),
    SiteCategory.WATER_BODY: (RIVER,),
    SiteCategory.REFUSE_POINT: (REFUSE_POINT,),
    SiteCategory.ROAD_SECTION: (ROAD_SECTION,),
}
