"""A made-up county as a scenario file: N townships of M sites each, the same for the same seed."""

from __future__ import annotations

import random
from itertools import pairwise
from typing import Any

import yaml

from envgrid_common.registry import SiteCategory
from envgrid_common.signals import CATEGORY_PROFILES
from envgrid_sim.scenariofile.model import FORMAT

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Syllables for invented place names (any likeness to a real place is accidental).
_SYLLABLES = "东西南北上下大小新老青白金石桥塘林山河湾岭坪溪源田村口头".replace("村", "")
_VILLAGES_PER_TOWNSHIP = 4
_GROUPS_PER_VILLAGE = 2
# Share of each kind of site among a township's sites (rivers are sections of one river).
_MIX: tuple[tuple[SiteCategory, float], ...] = (
    (SiteCategory.LIVESTOCK_FARM, 0.3),
    (SiteCategory.WATER_BODY, 0.15),
    (SiteCategory.REFUSE_POINT, 0.35),
    (SiteCategory.ROAD_SECTION, 0.2),
)
_KIND_NAMES = {
    SiteCategory.LIVESTOCK_FARM: ("生猪养殖场", "奶牛养殖场", "蛋鸡养殖场", "肉牛养殖场"),
    SiteCategory.WATER_BODY: ("河断面",),
    SiteCategory.REFUSE_POINT: ("垃圾收集点",),
    SiteCategory.ROAD_SECTION: ("公路段",),
}
_SLUGS = {
    SiteCategory.LIVESTOCK_FARM: "farm",
    SiteCategory.WATER_BODY: "river",
    SiteCategory.REFUSE_POINT: "refuse",
    SiteCategory.ROAD_SECTION: "road",
}


def _name(rng: random.Random, used: set[str], suffix: str) -> str:
    """A name not used yet: two syllables, or more once two-syllable names run short."""
    length = 2
    while True:
        for _ in range(50):
            name = "".join(rng.choice(_SYLLABLES) for _ in range(length)) + suffix
            if name not in used:
                used.add(name)
                return name
        length += 1


def _categories(rng: random.Random, count: int) -> list[SiteCategory]:
    """``count`` categories in the mix's proportions (largest remainders), shuffled."""
    wanted = [(c, share * count) for c, share in _MIX]
    counts = {c: int(w) for c, w in wanted}
    rest = sorted(wanted, key=lambda cw: cw[1] - int(cw[1]), reverse=True)
    for c, _ in rest[: count - sum(counts.values())]:
        counts[c] += 1
    out = [c for c, n in counts.items() for _ in range(n)]
    rng.shuffle(out)
    return out


def generate_county(
    townships: int,
    sites_per_township: int,
    *,
    seed: int = 0,
    report_interval_s: float = 10.0,
    name: str = "county",
) -> dict[str, Any]:
    """The scenario file's content (a mapping) for a county of invented townships."""
    if townships < 1 or sites_per_township < 1:
        raise ValueError("a county needs at least one township of at least one site")
    rng = random.Random(seed)
    used: set[str] = set()
    county = name
    cells: list[dict[str, Any]] = [
        {"id": county, "level": "county", "name": _name(rng, used, "县")}
    ]
    sites: list[dict[str, Any]] = []
    officers: list[dict[str, Any]] = []
    width = max(1, round(townships**0.5))
    for t in range(townships):
        town = f"{county}-t{t + 1:03d}"
        town_name = _name(rng, used, "镇")
        cells.append({"id": town, "level": "township", "name": town_name, "parent": county})
        groups = []
        for v in range(_VILLAGES_PER_TOWNSHIP):
            village = f"{town}-v{v + 1}"
            village_name = _name(rng, used, "村")
            cells.append({"id": village, "level": "village", "name": village_name, "parent": town})
            for g in range(_GROUPS_PER_VILLAGE):
                group = f"{village}-g{g + 1}"
                cells.append(
                    {
                        "id": group,
                        "level": "group",
                        "name": f"{village_name}{'一二'[g]}组",
                        "parent": village,
                    }
                )
                groups.append((group, village_name))
        officers.append(
            {
                "id": f"{town}-officer",
                "name": f"{town_name}网格员",
                "role": "grid_officer",
                "cell": town,
                "phone": f"138{seed % 100:02d}{t:06d}"[:11],
            }
        )
        # Townships on a grid about 10 km apart; sites within about 3 km of their centre.
        lon0 = 114.0 + (t % width) * 0.1
        lat0 = 27.6 + (t // width) * 0.1
        rivers: list[dict[str, Any]] = []
        numbers: dict[SiteCategory, int] = {}
        for category in _categories(rng, sites_per_township):
            n = numbers[category] = numbers.get(category, 0) + 1
            group, village_name = rng.choice(groups)
            site: dict[str, Any] = {
                "id": f"{town}-{_SLUGS[category]}-{n:03d}",
                "name": f"{village_name}{n}号{rng.choice(_KIND_NAMES[category])}",
                "category": category.value,
                "cell": group,
                "lon": round(lon0 + rng.uniform(-0.03, 0.03), 4),
                "lat": round(lat0 + rng.uniform(-0.03, 0.03), 4),
                "load": round(rng.uniform(0.85, 1.2), 2),
                "phase_h": round(rng.uniform(-1.5, 1.5), 1),
                "nodes": [{"profile": p.name} for p in CATEGORY_PROFILES[category]],
            }
            if category is SiteCategory.WATER_BODY:
                site.update(target_class="III", water_type="river")
                rivers.append(site)
            sites.append(site)
        # One river through each township: every section flows into the next one east.
        rivers.sort(key=lambda s: s["lon"])
        for upper, lower in pairwise(rivers):
            upper["downstream"] = [lower["id"]]
    return {
        "format": FORMAT,
        "name": name,
        "title": f"{cells[0]['name']} ({townships} townships, generated, seed {seed})",
        "report_interval_s": report_interval_s,
        "cells": cells,
        "sites": sites,
        "officers": officers,
    }


def dump_scenario(content: dict[str, Any]) -> str:
    """A scenario file's text."""
    header = "# Generated by `envgrid sim generate`; the format is in docs/scenarios.md.\n"
    return header + yaml.dump(content, Dumper=_Dumper, allow_unicode=True, sort_keys=False)
