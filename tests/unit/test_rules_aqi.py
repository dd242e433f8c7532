"""AQI rules (HJ 633-2012): IAQI against known values, AQI = max, primary pollutant, the rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from envgrid_cloud.cases.model import Severity
from envgrid_cloud.rules.aqi import AqiTable, aqi, load_table, primary
from envgrid_cloud.rules.model import AqiRule, RuleError
from tests.unit.test_rules_support import detail_json, kinds, run, sample

TABLE = load_table("hj633-2012")
ROAD = AqiRule(id="aqi", severity=Severity.MEDIUM, title="空气质量指数超标")


@pytest.mark.parametrize(
    ("metric", "concentration", "iaqi"),
    [
        ("pm25", 0, 0),
        ("pm25", 35, 50),
        ("pm25", 75, 100),
        ("pm25", 115, 150),
        ("pm25", 95, 125),  # halfway between 75 → 100 and 115 → 150
        ("pm25", 76, 102),  # 101.25, rounded up
        ("pm25", 500, 500),
        ("pm25", 650, 500),  # beyond the table: the top of the scale
        ("pm10", 150, 100),
        ("pm10", 200, 125),
        ("pm10", 51, 51),
        ("so2", 500, 100),  # 1-hour scale
        ("so2", 900, 213),  # past 800 on the 1-hour scale: the 24-hour scale (212.5)
        ("no2", 200, 100),
        ("co", 10, 100),  # mg/m³, 1-hour scale
        ("co", 35, 150),
        ("o3", 200, 100),
        ("o3", 250, 125),
        ("o3", 300, 150),
        ("o3", 1200, 500),
        ("pm25", -3, 0),  # a negative reading counts as nothing
    ],
)
def test_iaqi_of_known_concentrations(metric: str, concentration: float, iaqi: int) -> None:
    assert TABLE.iaqi_of(metric, concentration) == iaqi


def test_the_aqi_is_the_largest_iaqi_and_its_pollutant_is_primary() -> None:
    value, iaqis = aqi(TABLE, {"pm25": 115, "pm10": 150, "no2": 100})
    assert (value, iaqis) == (150, {"pm25": 150, "pm10": 100, "no2": 50})
    assert primary(value, iaqis) == ["pm25"]
    assert primary(*aqi(TABLE, {"pm25": 75, "pm10": 150})) == ["pm10", "pm25"]  # a tie: both
    assert primary(*aqi(TABLE, {"pm25": 20, "pm10": 40})) == []  # AQI ≤ 50: none


def test_the_rule_breaches_above_100_and_records_the_primary_pollutant() -> None:
    _, findings = run(ROAD, [sample(0, pm25=75, pm10=150), sample(5, pm25=115, pm10=120)])
    assert kinds(findings) == [None, "breach"]
    breach = findings[1]
    assert breach is not None
    assert (breach.metric, breach.value) == ("aqi", 150.0)
    detail = detail_json(breach)
    assert detail["aqi"] == 150
    assert detail["primary"] == ["pm25"]
    assert detail["iaqi"] == {"pm25": 150, "pm10": 85}
    assert detail["table"] == "hj633-2012"
    _, findings = run(ROAD, [sample(0, pm25=115), sample(5, pm25=30)])
    assert kinds(findings) == ["breach", "clear"]


@pytest.mark.parametrize("flag", ["F", "M", "D", "C", "B", "T"])
def test_a_flagged_pollutant_is_left_out(flag: str) -> None:
    _, findings = run(ROAD, [sample(0, pm25=300, pm10=60, flags={"pm25": flag})])
    assert findings == [None]
    state, findings = run(ROAD, [sample(0, pm25=300, flags={"pm25": flag})])
    assert state is None
    assert findings == [None]


def test_a_sample_without_any_of_its_pollutants_is_ignored() -> None:
    state, findings = run(ROAD, [sample(0, cod=500)])
    assert state is None
    assert findings == [None]


def test_a_hold_keeps_a_passing_plume_out() -> None:
    rule = ROAD.model_copy(update={"hold_s": 1800.0})
    plume = [sample(0, pm25=30), sample(5, pm25=200), sample(10, pm25=30)]
    _, findings = run(rule, plume)
    assert findings == [None, None, None]
    _, findings = run(rule, [sample(m, pm25=200) for m in range(0, 35, 5)])
    assert kinds(findings) == [None] * 6 + ["breach"]


def test_only_the_rules_metrics_count() -> None:
    rule = ROAD.model_copy(update={"metrics": ("pm10",)})
    _, findings = run(rule, [sample(0, pm25=300, pm10=60)])
    assert findings == [None]


def test_an_unknown_table_is_refused() -> None:
    with pytest.raises(RuleError, match="no-such-table"):
        load_table("no-such-table")


def test_a_table_must_be_consistent() -> None:
    good = TABLE.model_dump()
    bad_order = {
        **good,
        "pollutants": {**good["pollutants"], "x": {"unit": "u", "breakpoints": [0, 5, 3]}},
    }
    with pytest.raises(ValidationError, match="increase"):
        AqiTable.model_validate(bad_order)
    bad_beyond = {**good, "pollutants": {"x": {"unit": "u", "breakpoints": [0, 5], "beyond": "y"}}}
    with pytest.raises(ValidationError, match="unknown scale"):
        AqiTable.model_validate({**bad_beyond, "metrics": {}})
    with pytest.raises(ValidationError, match="unknown scale"):
        AqiTable.model_validate({**good, "metrics": {"pm25": "pm25_8h"}})
