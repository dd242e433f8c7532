"""芦溪镇, the demo township: four villages along the 袁河 in 芦溪县, Pingxiang, Jiangxi.

The county and township are real places; the villages, farms and other sites are invented for
the demo (any likeness to a real enterprise is accidental). Coordinates are WGS 84 and lie
within a few kilometres of the town, the river running west to east.
"""

from __future__ import annotations

from dataclasses import dataclass

from envgrid_common.registry import (
    GridCell,
    GridLevel,
    Node,
    NodeKind,
    Officer,
    OfficerRole,
    Registry,
    Site,
    WaterClass,
    WaterType,
)
from envgrid_common.registry import SiteCategory as Cat
from envgrid_common.signals import CATEGORY_PROFILES
from envgrid_sim.scenario import CameraSpec, Hj212Spec, NodeSpec, Scenario

COUNTY = GridCell(id="luxi-county", level=GridLevel.COUNTY, name="芦溪县")
TOWNSHIP = GridCell(id="luxi", level=GridLevel.TOWNSHIP, name="芦溪镇", parent_id=COUNTY.id)

# village slug → (name, number of villager groups)
_VILLAGES: dict[str, tuple[str, int]] = {
    "dongyang": ("东阳村", 3),
    "hetang": ("荷塘村", 2),
    "fenglin": ("枫林村", 3),
    "shiqiao": ("石桥村", 2),
}
_GROUP_NAMES = ("一组", "二组", "三组", "四组")

# Who is on duty (invented people): a grid officer per village and for the town, one reviewer.
_OFFICERS: tuple[tuple[str, str, OfficerRole, str], ...] = (
    ("luxi-officer", "刘建国", OfficerRole.GRID_OFFICER, "luxi"),
    ("luxi-reviewer", "王秀英", OfficerRole.REVIEWER, "luxi"),
    ("luxi-dongyang-officer", "陈志强", OfficerRole.GRID_OFFICER, "luxi-dongyang"),
    ("luxi-hetang-officer", "李春梅", OfficerRole.GRID_OFFICER, "luxi-hetang"),
    ("luxi-fenglin-officer", "张伟", OfficerRole.GRID_OFFICER, "luxi-fenglin"),
    ("luxi-shiqiao-officer", "黄丽华", OfficerRole.GRID_OFFICER, "luxi-shiqiao"),
)

# The river sections flow 袁河 入境 → 镇区 (where 荷塘河 joins) → 出境; all must meet class III,
# the class the water profiles are tuned to stay within.
_DOWNSTREAM: dict[str, tuple[str, ...]] = {
    "river-01": ("river-02",),
    "river-03": ("river-02",),
    "river-02": ("river-04",),
    "river-04": (),
}


@dataclass(frozen=True, slots=True)
class _SitePlan:
    """One site and how its nodes differ from the profile's typical behaviour."""

    slug: str
    name: str
    category: Cat
    cell: str  # "village-gN"
    lon: float
    lat: float
    load: float = 1.0
    phase_h: float = 0.0


# Loads stay within 0.85–1.2: the profiles are tuned so that even 1.2 keeps every metric
# under its limit.
_SITES: tuple[_SitePlan, ...] = (
    # Farms: about 3000 pigs at the largest; all discharge treated effluent to the river.
    _SitePlan(
        "farm-01", "东阳生猪养殖场", Cat.LIVESTOCK_FARM, "dongyang-g2", 113.9912, 27.6418, 1.15
    ),
    _SitePlan("farm-02", "荷塘奶牛养殖场", Cat.LIVESTOCK_FARM, "hetang-g1", 114.0135, 27.6592, 1.0),
    _SitePlan(
        "farm-03", "枫林蛋鸡养殖场", Cat.LIVESTOCK_FARM, "fenglin-g3", 114.0568, 27.6087, 0.85
    ),
    _SitePlan(
        "farm-04",
        "石桥生猪养殖专业合作社",
        Cat.LIVESTOCK_FARM,
        "shiqiao-g1",
        114.0812,
        27.6523,
        1.05,
    ),
    _SitePlan(
        "farm-05", "东阳肉牛养殖场", Cat.LIVESTOCK_FARM, "dongyang-g3", 113.9987, 27.6285, 0.95
    ),
    # 袁河 from where it enters the township to where it leaves; 荷塘河 joins in the town.
    _SitePlan(
        "river-01", "袁河东阳入境断面", Cat.WATER_BODY, "dongyang-g1", 113.9855, 27.6330, 0.9
    ),
    _SitePlan("river-02", "袁河芦溪镇区断面", Cat.WATER_BODY, "fenglin-g1", 114.0320, 27.6305, 1.0),
    _SitePlan("river-03", "荷塘河汇入口断面", Cat.WATER_BODY, "hetang-g2", 114.0287, 27.6398, 1.05),
    _SitePlan(
        "river-04", "袁河石桥出境断面", Cat.WATER_BODY, "shiqiao-g2", 114.0795, 27.6402, 1.15
    ),
    # Refuse: one point per village and the town's transfer station, emptied one after another.
    _SitePlan(
        "refuse-01", "东阳村垃圾收集点", Cat.REFUSE_POINT, "dongyang-g1", 113.9930, 27.6352, 0.95
    ),
    _SitePlan(
        "refuse-02", "荷塘村垃圾收集点", Cat.REFUSE_POINT, "hetang-g2", 114.0172, 27.6531, 1.0, 0.5
    ),
    _SitePlan(
        "refuse-03",
        "枫林村垃圾收集点",
        Cat.REFUSE_POINT,
        "fenglin-g2",
        114.0456,
        27.6184,
        1.05,
        1.0,
    ),
    _SitePlan(
        "refuse-04", "石桥村垃圾收集点", Cat.REFUSE_POINT, "shiqiao-g1", 114.0760, 27.6489, 0.9, 1.5
    ),
    _SitePlan(
        "refuse-05",
        "芦溪镇垃圾转运站",
        Cat.REFUSE_POINT,
        "fenglin-g1",
        114.0368,
        27.6279,
        1.1,
        -1.5,
    ),
    # Roads: the trunk road carries lorries, the town avenue commuters, the village road little.
    _SitePlan("road-01", "G320国道芦溪段", Cat.ROAD_SECTION, "hetang-g1", 114.0241, 27.6402, 1.2),
    _SitePlan("road-02", "芦溪大道镇区段", Cat.ROAD_SECTION, "fenglin-g1", 114.0330, 27.6290, 1.1),
    _SitePlan(
        "road-03", "石桥村通村公路", Cat.ROAD_SECTION, "shiqiao-g2", 114.0702, 27.6455, 0.85, 0.5
    ),
)


# Farmland under the straw-burning ban (秸秆禁烧), watched by a camera on a pole: (site, camera
# label, what it shows when nothing burns, the burn a scenario incident plays).
_FIELDS: tuple[tuple[_SitePlan, str, tuple[str, ...], str], ...] = (
    (
        _SitePlan("field-01", "东阳村秸秆禁烧区", Cat.FARMLAND, "dongyang-g2", 113.9958, 27.6371),
        "东阳村农田监控摄像头",
        ("quiet-day", "neg-tractor-dust", "quiet-day", "neg-shadows"),
        "burn-smoke-day",
    ),
)


# An enterprise with an online monitor at its wastewater outfall (an existing instrument):
# its 数采仪 speaks HJ 212-2017 to the gateway's listener, with this MN and password.
_ENTERPRISE = _SitePlan(
    "industry-01", "芦溪电瓷制造有限公司", Cat.INDUSTRIAL, "fenglin-g2", 114.0423, 27.6212
)
ENTERPRISE_MN = "36012300A89000160000A101"
ENTERPRISE_PASSWORD = "580117"
ENTERPRISE_RTD_INTERVAL_S = 30.0  # its RtdInterval: a real-time upload every 30 s


def _cells() -> tuple[GridCell, ...]:
    cells = [COUNTY, TOWNSHIP]
    for slug, (name, groups) in _VILLAGES.items():
        village = GridCell(
            id=f"luxi-{slug}", level=GridLevel.VILLAGE, name=name, parent_id=TOWNSHIP.id
        )
        cells.append(village)
        cells.extend(
            GridCell(
                id=f"{village.id}-g{i + 1}",
                level=GridLevel.GROUP,
                name=f"{name}{_GROUP_NAMES[i]}",
                parent_id=village.id,
            )
            for i in range(groups)
        )
    return tuple(cells)


def _officers() -> tuple[Officer, ...]:
    return tuple(
        Officer(id=ident, name=name, role=role, cell_id=cell, phone=f"1380799{index:04d}")
        for index, (ident, name, role, cell) in enumerate(_OFFICERS, start=1)
    )


def _water_details(plan: _SitePlan) -> dict[str, object]:
    if plan.category is not Cat.WATER_BODY:
        return {}
    return {
        "target_class": WaterClass.III,
        "water_type": WaterType.RIVER,
        "downstream": tuple(f"luxi-{slug}" for slug in _DOWNSTREAM[plan.slug]),
    }


def _camera_sites(report_interval_s: float) -> tuple[list[Site], list[CameraSpec]]:
    sites, cameras = [], []
    for plan, label, background, burn in _FIELDS:
        site = Site(
            id=f"luxi-{plan.slug}",
            name=plan.name,
            category=plan.category,
            cell_id=f"luxi-{plan.cell}",
            lon=plan.lon,
            lat=plan.lat,
        )
        node = Node(
            id=f"{site.id}-cam",
            site_id=site.id,
            kind=NodeKind.CAMERA,
            report_interval_s=report_interval_s,
        )
        sites.append(site)
        cameras.append(CameraSpec(node, label, background, burn))
    return sites, cameras


def _enterprise_site() -> tuple[Site, Hj212Spec]:
    plan = _ENTERPRISE
    site = Site(
        id=f"luxi-{plan.slug}",
        name=plan.name,
        category=plan.category,
        cell_id=f"luxi-{plan.cell}",
        lon=plan.lon,
        lat=plan.lat,
    )
    node = Node(
        id=f"{site.id}-effluent",
        site_id=site.id,
        kind=NodeKind.SENSOR,
        report_interval_s=ENTERPRISE_RTD_INTERVAL_S,
        hj212_mn=ENTERPRISE_MN,
        hj212_password=ENTERPRISE_PASSWORD,
    )
    return site, Hj212Spec(node, f"{plan.name}废水总排口在线监测")


def luxi_scenario(
    report_interval_s: float = 5.0, *, cameras: bool = False, hj212: bool = False
) -> Scenario:
    """芦溪镇: 17 sites and 22 sensor nodes, each reporting every ``report_interval_s``; with
    ``cameras``, also a farmland site watched by a camera node (for straw-burning detection);
    with ``hj212``, also an enterprise whose outfall monitor speaks HJ 212 to the gateway."""
    sites: list[Site] = []
    specs: list[NodeSpec] = []
    for plan in _SITES:
        site = Site(
            id=f"luxi-{plan.slug}",
            name=plan.name,
            category=plan.category,
            cell_id=f"luxi-{plan.cell}",
            lon=plan.lon,
            lat=plan.lat,
            **_water_details(plan),
        )
        sites.append(site)
        for profile in CATEGORY_PROFILES[plan.category]:
            node = Node(
                id=f"{site.id}-{profile.slug}",
                site_id=site.id,
                kind=NodeKind.SENSOR,
                report_interval_s=report_interval_s,
            )
            specs.append(
                NodeSpec(
                    node,
                    profile,
                    label_zh=f"{plan.name}{profile.label_zh}",
                    load=plan.load,
                    phase_h=plan.phase_h,
                )
            )
    field_sites, camera_specs = _camera_sites(report_interval_s) if cameras else ([], [])
    stations: list[Hj212Spec] = []
    if hj212:
        enterprise, station = _enterprise_site()
        field_sites.append(enterprise)
        stations.append(station)
    registry = Registry(
        cells=_cells(),
        sites=tuple(sites + field_sites),
        nodes=tuple(s.node for s in specs)
        + tuple(c.node for c in camera_specs)
        + tuple(h.node for h in stations),
        officers=_officers(),
    )
    return Scenario(
        "luxi", "芦溪镇 (芦溪县)", registry, tuple(specs), tuple(camera_specs), tuple(stations)
    )
