"""Rule packs: every pack loads, its numbers are the standards', classes resolve, overrides work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from envgrid_cloud.rules.aqi import load_table
from envgrid_cloud.rules.model import (
    DailyMeanRule,
    NoDataRule,
    OfflineRule,
    Rule,
    RuleError,
    StuckRule,
    ThresholdRule,
)
from envgrid_cloud.rules.packs import (
    WATER_CLASSES,
    load_packs,
    parse_pack,
    rules_for_site,
    validate_overrides,
)
from envgrid_cloud.rules.packs import SiteRules as Site
from envgrid_common.registry import SiteCategory

STANDARDS = Path(__file__).resolve().parents[3] / "shared" / "STANDARDS.md"
WATER = SiteCategory.WATER_BODY
FARM = SiteCategory.LIVESTOCK_FARM
CJK = re.compile(r"[\u4e00-\u9fff]")


def _section(title: str) -> str:
    if not STANDARDS.exists():
        pytest.skip(f"{STANDARDS} is not here")
    text = STANDARDS.read_text(encoding="utf-8")
    start = text.index(title)
    return text[start : text.index("\n### ", start + 1)]


def _rows(section: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("|--")
    ]


def _by_id(rules: list[Rule]) -> dict[str, Rule]:
    return {rule.id: rule for rule in rules}


def _threshold(rules: list[Rule], rule_id: str) -> ThresholdRule:
    rule = _by_id(rules)[rule_id]
    assert isinstance(rule, ThresholdRule)
    return rule


def _water(
    target_class: str | None = None, water_type: str | None = None, **overrides: object
) -> list[Rule]:
    return rules_for_site(Site("river-01", WATER, target_class, water_type, overrides))  # type: ignore[arg-type]


# --- every pack ------------------------------------------------------------------------------


def test_there_is_one_valid_pack_per_site_category() -> None:
    packs = load_packs()
    assert set(packs) == set(SiteCategory)
    for category, pack in packs.items():
        assert pack.category is category
        assert re.fullmatch(r"\d{4}\.\d+", pack.version)
        assert pack.source
        rules = pack.rules()
        assert len({r.id for r in rules}) == len(rules)
        for rule in rules:
            assert CJK.search(rule.title), f"{category}: {rule.id} needs a Chinese title"


@pytest.mark.parametrize("category", list(SiteCategory))
def test_every_category_has_an_offline_rule_and_sensor_sites_a_no_data_rule(
    category: SiteCategory,
) -> None:
    types = {type(rule) for rule in load_packs()[category].rules()}
    assert OfflineRule in types
    # Camera nodes send no readings: silence is their normal state between incidents.
    assert (NoDataRule in types) is (category is not SiteCategory.FARMLAND)


def test_the_farmland_pack_watches_smoke_and_flame_as_critical() -> None:
    (burning,) = [r for r in load_packs()[SiteCategory.FARMLAND].rules() if r.type == "detection"]
    assert {str(k) for k in burning.kinds} == {"smoke", "flame"}
    assert burning.severity == "critical"


# --- the standards' numbers ------------------------------------------------------------------

# GB 3838-2002 表 1 item number → the water-body rule that uses it, and its side.
GB3838_ITEMS = {"3": ("do", "below"), "4": ("codmn", "above"), "5": ("cod", "above")}
GB3838_ITEMS |= {"6": ("bod5", "above"), "7": ("nh3n", "above"), "8": ("tp", "above")}
GB3838_ITEMS |= {"9": ("tn", "above")}


def _gb3838_cell(text: str) -> tuple[float, float | None]:
    """(river value, lake value or None) of one cell of STANDARDS.md §3.1."""
    if match := re.search(r"\(or ([\d.]+)\)", text):  # DO class I: "90 % saturation (or 7.5)"
        return float(match[1]), None
    match = re.fullmatch(r"([\d.]+)(?: \((?:lake/reservoir )?([\d.]+)\))?", text)
    assert match, f"unexpected cell {text!r}"
    return float(match[1]), float(match[2]) if match[2] else None


def test_every_gb3838_number_is_as_in_standards_md() -> None:
    rows = {r[0]: r for r in _rows(_section("### 3.1 GB 3838-2002")) if r[0].isdigit()}
    assert rows["2"][3:8] == ["6–9"] * 5
    for cls in WATER_CLASSES:
        for water_type in ("river", "lake"):
            rules = _by_id(_water(cls, water_type))
            ph = rules["ph"]
            assert isinstance(ph, ThresholdRule)
            assert (ph.below, ph.above) == (6, 9)
            for item, (rule_id, side) in GB3838_ITEMS.items():
                river, lake = _gb3838_cell(rows[item][3 + WATER_CLASSES.index(cls)])
                if rule_id == "tn" and water_type == "river":
                    assert "tn" not in rules  # lakes and reservoirs only (item 9)
                    continue
                want = lake if water_type == "lake" and lake is not None else river
                rule = rules[rule_id]
                assert isinstance(rule, ThresholdRule)
                assert getattr(rule, side) == want, f"{rule_id} class {cls} {water_type}"


def test_every_gb18596_number_is_as_in_standards_md() -> None:
    rows = _rows(_section("### 3.2 GB 18596-2001"))
    header = rows.index(["BOD₅", "COD", "SS", "NH₃-N", "TP (as P)", "粪大肠菌群数", "蛔虫卵"])
    limits = {
        metric: float(cell.split()[0])
        for metric, cell in zip(["bod5", "cod", "ss", "nh3n", "tp"], rows[header + 1], strict=False)
    }
    rules = load_packs()[FARM].rules()
    daily = {r.metric: r.above for r in rules if isinstance(r, DailyMeanRule)}
    assert daily == limits
    assert all(r.min_samples >= 1 for r in rules if isinstance(r, DailyMeanRule))
    spills = {
        r.metric: r.above for r in rules if isinstance(r, ThresholdRule) and r.id.endswith("_spill")
    }
    assert spills == {metric: 2 * limit for metric, limit in limits.items()}


def test_every_gb8978_number_is_as_in_standards_md() -> None:
    rows = _rows(_section("### 3.4 GB 8978-1996"))
    names = {"COD": "cod", "NH₃-N": "nh3n", "BOD₅": "bod5", "SS": "ss"}
    grade1 = {
        names[r[0]]: float(re.findall(r"[\d.]+", r[2])[0])
        for r in rows
        if r[0] in names and ("其他排污单位" in r[1] or "other dischargers" in r[1])
    }
    assert grade1 == {"cod": 100, "nh3n": 15, "bod5": 20, "ss": 70}
    rules = load_packs()[SiteCategory.INDUSTRIAL].rules()
    limits = {r.metric: r.above for r in rules if isinstance(r, ThresholdRule) and r.metric != "ph"}
    assert limits == grade1
    assert ["pH", "all dischargers", "6–9"] in rows
    assert (_threshold(rules, "ph").below, _threshold(rules, "ph").above) == (6, 9)


AQI_ROWS = {
    "SO₂ 24 h": "so2_24h",
    "SO₂ 1 h ⁽¹⁾": "so2_1h",
    "NO₂ 24 h": "no2_24h",
    "NO₂ 1 h": "no2_1h",
    "PM10 24 h": "pm10_24h",
    "CO 24 h (mg/m³)": "co_24h",
    "CO 1 h (mg/m³)": "co_1h",
    "O₃ 1 h": "o3_1h",
    "O₃ 8 h moving avg ⁽²⁾": "o3_8h",
    "PM2.5 24 h": "pm25_24h",
}


def test_every_aqi_breakpoint_is_as_in_standards_md() -> None:
    rows = {r[0]: r[1:] for r in _rows(_section("### 3.3 Air: AQI"))}
    table = load_table("hj633-2012")
    assert [float(v) for v in rows["IAQI"]] == list(table.iaqi)
    assert set(table.pollutants) == set(AQI_ROWS.values())
    for label, scale in AQI_ROWS.items():
        values = [float(v) for v in rows[label] if v != "–"]
        assert list(table.pollutants[scale].breakpoints) == values, scale
    road = load_packs()[SiteCategory.ROAD_SECTION].rules()
    (aqi_rule,) = [r for r in road if r.type == "aqi"]
    assert aqi_rule.above == 100
    assert aqi_rule.table == "hj633-2012"


# --- class resolution ------------------------------------------------------------------------


def test_a_water_body_without_a_class_gets_class_iii_as_a_river() -> None:
    assert _water() == _water("III", "river")
    assert _threshold(_water(), "cod").above == 20
    assert _threshold(_water(), "tp").above == 0.2
    assert "tn" not in _by_id(_water())


@pytest.mark.parametrize(
    ("cls", "river_tp", "lake_tp"),
    [("I", 0.02, 0.01), ("II", 0.1, 0.025), ("III", 0.2, 0.05), ("IV", 0.3, 0.1), ("V", 0.4, 0.2)],
)
def test_lakes_have_their_own_phosphorus_limits_and_nitrogen_rule(
    cls: str, river_tp: float, lake_tp: float
) -> None:
    assert _threshold(_water(cls, "river"), "tp").above == river_tp
    assert _threshold(_water(cls, "lake"), "tp").above == lake_tp
    assert "tn" in _by_id(_water(cls, "lake"))


def test_dissolved_oxygen_is_a_floor() -> None:
    do = _threshold(_water("II"), "do")
    assert (do.below, do.above) == (6, None)


def test_stuck_rules_allow_for_hourly_analyser_cycles() -> None:
    for category in (WATER, FARM, SiteCategory.INDUSTRIAL):
        stuck = [r for r in load_packs()[category].rules() if isinstance(r, StuckRule)]
        assert {r.metric for r in stuck} == {"cod", "nh3n"}
        assert all(r.sample_cycle_s == 3600 and r.span_s >= 3 * 3600 for r in stuck)


@pytest.mark.parametrize(("cls", "water"), [("VI", None), ("iii", None), (None, "sea")])
def test_an_unknown_class_or_water_type_is_refused(cls: str | None, water: str | None) -> None:
    with pytest.raises(RuleError, match="river-01: unknown"):
        _water(cls, water)


# --- overrides -------------------------------------------------------------------------------


def test_an_override_replaces_fields_of_one_rule() -> None:
    rules = _water("III", cod={"above": 25, "hold_s": 600, "severity": "critical"})
    cod = _threshold(rules, "cod")
    assert (cod.above, cod.hold_s, cod.severity) == (25, 600, "critical")
    assert _threshold(rules, "nh3n") == _threshold(_water("III"), "nh3n")
    assert _threshold(_water("III"), "cod").above == 20  # the cached pack rules are untouched


def test_an_override_can_disable_a_rule() -> None:
    ids = [r.id for r in _water(nh3n_stuck={"enabled": False}, no_data={"enabled": False})]
    assert "nh3n_stuck" not in ids
    assert "no_data" not in ids
    assert "cod_stuck" in ids


def test_an_override_of_a_rule_the_site_does_not_have_is_accepted_and_idle() -> None:
    assert "tn" not in _by_id(_water("III", "river", tn={"above": 3}))  # TN: lakes only


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"codd": {"above": 25}}, r"unknown rule 'codd' \(pack water_body 2026\.1 has: ph, do"),
        ({"cod": {"limit": 25}}, r"rule 'cod'.*limit: Extra inputs are not permitted"),
        ({"cod": {"above": "high"}}, r"rule 'cod'.*above: Input should be a valid number"),
        (
            {"cod": {"hold_s": -1}},
            r"rule 'cod'.*hold_s: Input should be greater than or equal to 0",
        ),
        ({"cod": {"metric": "nh3n"}}, r"rule 'cod'.*metric cannot be overridden"),
        ({"cod": {"above_by_class": {"III": 25}}}, r"above_by_class cannot be overridden"),
        ({"ph": {"below": 10}}, r"rule 'ph'.*'below' must be less than 'above'"),
        ({"cod": ["above", 25]}, r"rule 'cod'.*must be a mapping"),
    ],
)
def test_a_bad_override_is_refused_naming_the_site_rule_and_field(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(RuleError, match=message) as caught:
        rules_for_site(Site("river-01", WATER, "III", "river", overrides))  # type: ignore[arg-type]
    assert "site river-01" in str(caught.value)
    with pytest.raises(RuleError, match=message):
        validate_overrides(WATER, overrides)


def test_validate_overrides_checks_every_class_the_site_could_have() -> None:
    validate_overrides(
        WATER, {"cod": {"above": 25}, "tn": {"hold_s": 60}, "offline": {"enabled": False}}
    )
    validate_overrides(FARM, {"cod_daily": {"above": 300}})
    # A DO ceiling of 4 is above the class IV and V floors but not class I's 7.5.
    with pytest.raises(RuleError, match=r"rule 'do' \(class I, river\)"):
        validate_overrides(WATER, {"do": {"above": 4}})
    with pytest.raises(RuleError, match="unknown rule 'cod'"):
        validate_overrides(SiteCategory.FARMLAND, {"cod": {"above": 1}})


# --- pack files ------------------------------------------------------------------------------

GOOD = """
pack: water_body
version: "2026.1"
source: test
rules:
  - id: cod
    type: threshold
    metric: cod
    severity: high
    title: 化学需氧量超标
    above_by_class: {I: 15, II: 15, III: 20, IV: 30, V: 40}
"""


def test_a_pack_file_parses() -> None:
    pack = parse_pack(GOOD, "water_body.yaml")
    assert pack.rule_ids == ("cod",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('version: "2026.1"', "version: latest"), r"x\.yaml: version: String should match"),
        (
            ("metric: cod", "metric: cods"),
            r"x\.yaml, rule 'cod' \(class I, river\): metric: .*unknown metric 'cods'",
        ),
        (
            ("type: threshold", "type: thresh"),
            r"x\.yaml, rule 'cod'.*does not match any of the expected tags",
        ),
        (("severity: high", "severity: urgent"), r"x\.yaml, rule 'cod'.*severity: Input should be"),
        ((", V: 40}", "}"), r"x\.yaml, rule 'cod': above_by_class: .*no limit for class V"),
        (
            ("title: 化学需氧量超标", "title: 化学需氧量超标\n    colour: red"),
            r"rule 'cod'.*colour: Extra inputs",
        ),
        (
            ("  - id: cod", "  - idx: cod"),
            r"x\.yaml, rule #1: a rule is a mapping with a string 'id'",
        ),
        (("rules:", "rules: [\n"), r"x\.yaml: not YAML"),
    ],
)
def test_a_bad_pack_file_is_refused_naming_the_file_and_rule(
    change: tuple[str, str], message: str
) -> None:
    with pytest.raises(RuleError, match=message):
        parse_pack(GOOD.replace(*change), "x.yaml")


def test_duplicate_rule_ids_and_unknown_aqi_tables_are_refused() -> None:
    twice = GOOD + GOOD[GOOD.index("  - id: cod") :]
    with pytest.raises(RuleError, match="rule id 'cod' appears twice"):
        parse_pack(twice, "x.yaml")
    road = """
pack: road_section
version: "2026.1"
source: test
rules:
  - {id: aqi, type: aqi, severity: medium, title: 空气质量指数超标, table: hj633-2099}
"""
    with pytest.raises(RuleError, match="hj633-2099"):
        parse_pack(road, "road_section.yaml")
    road = road.replace("table: hj633-2099", "metrics: [pm25, cod]")
    with pytest.raises(
        RuleError, match=r"rule 'aqi': AQI table hj633-2012 has no scale for \['cod'\]"
    ):
        parse_pack(road, "road_section.yaml")
