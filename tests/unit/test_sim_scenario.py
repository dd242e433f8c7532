"""The Luxi demo township: a valid registry whose every node knows what it measures."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from envgrid_common.messages import ID_PATTERN
from envgrid_common.metrics import METRICS
from envgrid_common.registry import GridLevel, Registry, SiteCategory
from envgrid_common.signals import CATEGORY_PROFILES, PROFILES
from envgrid_sim.scenario import Scenario, load_scenario
from envgrid_sim.scenarios.luxi import luxi_scenario

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def luxi() -> Scenario:
    """The shipped demo township."""
    return luxi_scenario()


def test_registry_validates_again_from_its_own_dump(luxi: Scenario) -> None:
    again = Registry.model_validate(luxi.registry.model_dump())
    assert again == luxi.registry


def test_grid_is_county_township_villages_groups(luxi: Scenario) -> None:
    levels = Counter(c.level for c in luxi.registry.cells)
    assert levels[GridLevel.COUNTY] == 1
    assert levels[GridLevel.TOWNSHIP] == 1
    assert 3 <= levels[GridLevel.VILLAGE] <= 4
    assert levels[GridLevel.GROUP] >= levels[GridLevel.VILLAGE]
    assert luxi.township.name == "芦溪镇"
    assert all(CJK.search(c.name) for c in luxi.registry.cells)


def test_sites_cover_the_categories_with_chinese_names_in_one_area(luxi: Scenario) -> None:
    categories = Counter(s.category for s in luxi.registry.sites)
    assert categories[SiteCategory.LIVESTOCK_FARM] >= 3
    assert categories[SiteCategory.WATER_BODY] >= 2
    assert categories[SiteCategory.REFUSE_POINT] >= 2
    assert categories[SiteCategory.ROAD_SECTION] >= 1
    for site in luxi.registry.sites:
        assert CJK.search(site.name), site.id
        assert site.lon is not None
        assert site.lat is not None
        # Within ~10 km of 芦溪 (Jiangxi): one township, not scattered over China.
        assert abs(site.lon - 114.03) < 0.1, site.id
        assert abs(site.lat - 27.63) < 0.1, site.id
    farms = " ".join(
        s.name for s in luxi.registry.sites if s.category is SiteCategory.LIVESTOCK_FARM
    )
    assert all(animal in farms for animal in ("猪", "牛", "鸡"))


def test_every_site_has_a_node_and_every_node_a_matching_profile(luxi: Scenario) -> None:
    watched = {n.site_id for n in luxi.registry.nodes}
    assert watched == {s.id for s in luxi.registry.sites}
    for spec in luxi.specs:
        site = luxi.site(spec.node.site_id)
        assert spec.profile in CATEGORY_PROFILES[site.category]
        assert CJK.search(spec.label_zh)
    assert 20 <= len(luxi.specs) <= 40


def test_ids_match_the_contract_and_are_unique(luxi: Scenario) -> None:
    ids = [c.id for c in luxi.registry.cells]
    ids += [s.id for s in luxi.registry.sites]
    ids += [n.id for n in luxi.registry.nodes]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(ID_PATTERN, i) for i in ids)
    assert "luxi-farm-01-effluent" in {n.id for n in luxi.registry.nodes}


def test_every_metric_is_canonical() -> None:
    for profile in PROFILES.values():
        assert profile.metrics
        assert set(profile.metrics) <= set(METRICS), profile.name


def test_report_interval_reaches_every_node() -> None:
    assert {n.report_interval_s for n in luxi_scenario(0.5).registry.nodes} == {0.5}
    assert load_scenario("luxi", 2.0).registry.nodes[0].report_interval_s == 2.0
    with pytest.raises(ValueError, match="unknown scenario"):
        load_scenario("atlantis")


def test_limited_takes_every_kind_first(luxi: Scenario) -> None:
    small = luxi.limited(5)
    assert len(small.specs) == 5
    assert {s.profile.name for s in small.specs} == set(PROFILES)
    assert [s.node.id for s in small.specs] == [n.id for n in small.registry.nodes]
    assert len(luxi.limited(1000).specs) == len(luxi.specs)
    with pytest.raises(ValueError, match="at least one"):
        luxi.limited(0)


def test_specs_must_match_registry(luxi: Scenario) -> None:
    with pytest.raises(ValueError, match="1:1"):
        Scenario("broken", "broken", luxi.registry, luxi.specs[1:])
    road = next(s for s in luxi.specs if s.profile.category is SiteCategory.ROAD_SECTION)
    river = next(s for s in luxi.specs if s.profile.category is SiteCategory.WATER_BODY)
    swapped = tuple(
        type(s)(s.node, river.profile, s.label_zh) if s is road else s for s in luxi.specs
    )
    with pytest.raises(ValueError, match="profile river"):
        Scenario("broken", "broken", luxi.registry, swapped)
