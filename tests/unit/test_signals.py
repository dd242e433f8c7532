"""Virtual sensor signals: deterministic, shaped by the day, under the limits, incidents on cue."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from envgrid_common.clock import SHANGHAI
from envgrid_common.signals import (
    DRIFT_CLIP,
    NOISE_CLIP,
    Incident,
    MetricSignal,
    NodeSignals,
    local_hour,
)
from envgrid_common.signals.profiles import (
    FARM_AIR,
    FARM_EFFLUENT,
    REFUSE_POINT,
    RIVER,
    ROAD_SECTION,
    Profile,
)
from envgrid_sim.scenario import NodeSpec
from envgrid_sim.scenarios.luxi import luxi_scenario

START = datetime(2026, 5, 4, 0, 0, tzinfo=SHANGHAI)

# Limits from STANDARDS.md §3, written out here so the test checks the simulator against
# the standards rather than against itself. (low, high); None where there is no bound.
WATER_CLASS_III: dict[str, tuple[float | None, float | None]] = {
    "ph": (6.0, 9.0),
    "do": (5.0, None),
    "codmn": (None, 6.0),
    "nh3n": (None, 1.0),
    "tp": (None, 0.2),  # rivers; lakes would be 0.05
}
FARM_EFFLUENT_DAILY_MEAN = {"cod": 400.0, "nh3n": 80.0, "tp": 8.0}  # GB 18596 表 5
BOUNDARY_ODOUR = {"nh3": 1.5, "h2s": 0.06}  # GB 14554-93 grade II, new sources
AQI_GOOD = {"pm25": 75.0, "pm10": 150.0}  # IAQI 100 breakpoints, HJ 633-2012
FILL_BEFORE_OVERFLOW = 90.0

LIMITS: dict[str, dict[str, tuple[float | None, float | None]]] = {
    RIVER.name: WATER_CLASS_III,
    FARM_EFFLUENT.name: {m: (None, v) for m, v in FARM_EFFLUENT_DAILY_MEAN.items()},
    FARM_AIR.name: {m: (None, v) for m, v in BOUNDARY_ODOUR.items()},
    REFUSE_POINT.name: {
        "fill_level": (None, FILL_BEFORE_OVERFLOW),
        **{m: (None, v) for m, v in BOUNDARY_ODOUR.items()},
    },
    ROAD_SECTION.name: {m: (None, v) for m, v in AQI_GOOD.items()},
}


def times(start: datetime, days: float, step: timedelta) -> Iterator[datetime]:
    """Evenly spaced times from ``start`` for ``days``."""
    t, end = start, start + timedelta(days=days)
    while t < end:
        yield t
        t += step


def mean_at(signals: NodeSignals, metric: str, hour: float, days: int = 14) -> float:
    """Mean of ``metric`` at one local hour over many days (averages the noise away)."""
    offset = timedelta(hours=hour)
    return statistics.fmean(
        signals.value(metric, START + timedelta(days=d) + offset) for d in range(days)
    )


def typical(profile_signals: dict[str, MetricSignal], seed: int = 7) -> NodeSignals:
    """A node of average load."""
    return NodeSignals("test-node", profile_signals, seed=seed)


def test_same_seed_and_time_give_the_same_values_in_any_order() -> None:
    a, b = typical(dict(RIVER.signals)), typical(dict(RIVER.signals))
    t1, t2 = START + timedelta(hours=3), START + timedelta(days=2, minutes=7)
    first = (a.sample(t1), a.sample(t2))
    assert (b.sample(t2), b.sample(t1)) == (first[1], first[0])
    # The same instant in another offset is the same instant.
    assert a.sample(t1.astimezone(UTC)) == first[0]


def test_seed_and_node_change_the_values() -> None:
    t = START + timedelta(hours=10)
    base = typical(dict(RIVER.signals), seed=1).sample(t)
    assert typical(dict(RIVER.signals), seed=2).sample(t) != base
    assert NodeSignals("other-node", RIVER.signals, seed=1).sample(t) != base


@pytest.mark.parametrize(
    "profile", [FARM_EFFLUENT, FARM_AIR, RIVER, REFUSE_POINT, ROAD_SECTION], ids=lambda p: p.name
)
def test_values_move_between_readings_but_not_wildly(profile: Profile) -> None:
    s = typical(dict(profile.signals))
    for metric, signal in profile.signals.items():
        values = [s.value(metric, t) for t in times(START, 1 / 24, timedelta(seconds=5))]
        pairs = list(itertools.pairwise(values))
        # Repeats are rare, or the cloud's stuck-value (恒值) rule would fire on healthy nodes.
        assert sum(a == b for a, b in pairs) < 0.2 * len(pairs), metric
        jump = 2 * NOISE_CLIP * signal.noise_sd + 10**-signal.decimals
        assert max(abs(b - a) for a, b in pairs) <= jump * 1.01, metric


def test_road_pm_peaks_at_rush_hours() -> None:
    s = typical(dict(ROAD_SECTION.signals))
    night, midday = mean_at(s, "pm25", 3), mean_at(s, "pm25", 13)
    assert mean_at(s, "pm25", 8) > night + 8
    assert mean_at(s, "pm25", 18.5) > midday + 6
    assert mean_at(s, "pm10", 8) > mean_at(s, "pm10", 3) + 15


def test_river_oxygen_and_ph_follow_photosynthesis() -> None:
    s = typical(dict(RIVER.signals))
    assert mean_at(s, "do", 15) > mean_at(s, "do", 3) + 1.2
    assert mean_at(s, "ph", 15) > mean_at(s, "ph", 3) + 0.3


def test_farm_odour_rises_with_midday_warmth_and_effluent_after_washing() -> None:
    air = typical(dict(FARM_AIR.signals))
    assert mean_at(air, "nh3", 14) > mean_at(air, "nh3", 2) * 1.5
    assert mean_at(air, "h2s", 14) > mean_at(air, "h2s", 2) * 1.5
    effluent = typical(dict(FARM_EFFLUENT.signals))
    assert mean_at(effluent, "cod", 8.5) > mean_at(effluent, "cod", 3) + 30


def test_refuse_fills_through_the_day_and_empties_at_collection() -> None:
    s = typical(dict(REFUSE_POINT.signals))
    before, after = mean_at(s, "fill_level", 6.25), mean_at(s, "fill_level", 7.0)
    assert before > 55
    assert after < 15
    day = [mean_at(s, "fill_level", h) for h in (7, 10, 13, 16, 19, 22, 1, 4)]
    assert day == sorted(day)


def test_phase_shifts_the_collection_time() -> None:
    early = NodeSignals("bin", REFUSE_POINT.signals, phase_h=0.0)
    late = NodeSignals("bin", REFUSE_POINT.signals, phase_h=2.0)
    at = START + timedelta(hours=7.5)
    assert early.value("fill_level", at) < 20 < late.value("fill_level", at)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_luxi_node_stays_within_limits_for_a_week(seed: int) -> None:
    for spec in luxi_scenario().specs:
        signals = spec.signals(seed)
        limits = LIMITS[spec.profile.name]
        for t in times(START, 7, timedelta(minutes=10)):
            for metric, value in signals.sample(t).items():
                low, high = limits.get(metric, (None, None))
                where = f"{spec.node.id} {metric}={value} at {t.isoformat()}"
                assert low is None or value >= low, where
                assert high is None or value < high, where


def _worst_case(spec: NodeSpec, metric: str, sign: float) -> float:
    """How far a metric can go without an incident: cycle, drift and noise at their extremes."""
    signal = spec.profile.signals[metric]
    levels = [
        (signal.baseline + signal.cycle.offset(q / 4)) * signal.load_factor(spec.load)
        for q in range(96)
    ]
    level = max(levels) if sign > 0 else min(levels)
    return level + sign * (DRIFT_CLIP * signal.drift_sd + NOISE_CLIP * signal.noise_sd)


def test_limits_hold_even_at_the_clipped_extremes() -> None:
    for spec in luxi_scenario().specs:
        for metric, (low, high) in LIMITS[spec.profile.name].items():
            if high is not None:
                assert _worst_case(spec, metric, +1) < high, (spec.node.id, metric)
            if low is not None:
                assert _worst_case(spec, metric, -1) > low, (spec.node.id, metric)


def test_pm10_never_below_pm25() -> None:
    for spec in luxi_scenario().specs:
        if spec.profile is ROAD_SECTION:
            s = spec.signals(3)
            for t in times(START, 3, timedelta(minutes=5)):
                assert s.value("pm10", t) >= s.value("pm25", t)


def test_incident_multiplies_inside_its_window_only() -> None:
    s = typical(dict(FARM_EFFLUENT.signals))
    start = START + timedelta(hours=10)
    before = {
        t: s.value("cod", t)
        for t in times(start - timedelta(hours=1), 3 / 24, timedelta(minutes=5))
    }
    s.inject(Incident("cod", start, timedelta(hours=1), factor=3.0))
    for t, normal in before.items():
        inside = start <= t < start + timedelta(hours=1)
        if inside:
            assert s.value("cod", t) == pytest.approx(normal * 3, abs=0.2)
            assert s.value("cod", t) > FARM_EFFLUENT_DAILY_MEAN["cod"]
        else:
            assert s.value("cod", t) == normal
    assert s.value("nh3n", start + timedelta(minutes=30)) < FARM_EFFLUENT_DAILY_MEAN["nh3n"]


def test_incident_ramps_in_and_out() -> None:
    s = typical(dict(RIVER.signals))
    start = START + timedelta(hours=12)
    normal = s.normal_value("nh3n", start + timedelta(minutes=5))
    s.inject(Incident("nh3n", start, timedelta(hours=1), offset=2.0, ramp=timedelta(minutes=10)))
    half = s.value("nh3n", start + timedelta(minutes=5))
    assert half == pytest.approx(normal + 1.0, abs=0.001)
    full = s.value("nh3n", start + timedelta(minutes=30))
    assert full > WATER_CLASS_III["nh3n"][1] + 1.0  # type: ignore[operator]


def test_stuck_incident_freezes_the_value_and_clamping_holds() -> None:
    s = typical(dict(RIVER.signals))
    start = START + timedelta(hours=6)
    s.inject(Incident("do", start, timedelta(hours=2), stuck=True))
    s.inject(Incident("tp", start, timedelta(hours=2), offset=-5.0))
    frozen = {s.value("do", start + timedelta(minutes=m)) for m in range(0, 120, 5)}
    assert len(frozen) == 1
    assert s.value("tp", start + timedelta(minutes=30)) == 0.0  # clamped at the physical floor
    after = {s.value("do", start + timedelta(hours=2, minutes=m)) for m in range(0, 60, 5)}
    assert len(after) > 1  # alive again once the incident is over


def test_incident_checks_its_arguments() -> None:
    s = typical(dict(ROAD_SECTION.signals))
    with pytest.raises(ValueError, match="does not measure"):
        s.inject(Incident("cod", START, timedelta(hours=1), factor=2))
    with pytest.raises(ValueError, match="aware"):
        Incident("pm25", datetime(2026, 5, 1), timedelta(hours=1))  # noqa: DTZ001 (naive on purpose)
    with pytest.raises(ValueError, match="positive"):
        Incident("pm25", START, timedelta(0))
    with pytest.raises(ValueError, match="ramp"):
        Incident("pm25", START, timedelta(minutes=10), ramp=timedelta(minutes=6))


def test_ended_incidents_are_forgotten() -> None:
    s = typical(dict(ROAD_SECTION.signals))
    s.inject(Incident("pm25", START, timedelta(minutes=10), factor=4))
    s.forget_before(START + timedelta(minutes=5))
    assert len(s.incidents) == 1
    s.forget_before(START + timedelta(minutes=11))
    assert not s.incidents


def test_local_hour_is_china_time() -> None:
    assert local_hour(datetime(2026, 5, 1, 0, 30, tzinfo=UTC)) == pytest.approx(8.5)


def test_an_incident_describes_itself_in_one_line() -> None:
    start = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    leak = Incident("cod", start, timedelta(minutes=10), factor=3.0)
    assert leak.describe() == "cod ×3 +0 from 2026-05-01T08:00:00+00:00 for 0:10:00"
    hung = Incident("ph", start, timedelta(hours=1), stuck=True)
    assert hung.describe().endswith("for 1:00:00 (stuck)")
