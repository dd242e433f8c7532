"""The grid, sites, nodes and officers, as a scenario, a census or the API hands them over."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from envgrid_common.messages import Identifier


class GridLevel(StrEnum):
    """County → township → village → villager group (县 → 乡镇 → 村 → 村民小组)."""

    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"
    GROUP = "group"


PARENT_LEVEL: dict[GridLevel, GridLevel | None] = {
    GridLevel.COUNTY: None,
    GridLevel.TOWNSHIP: GridLevel.COUNTY,
    GridLevel.VILLAGE: GridLevel.TOWNSHIP,
    GridLevel.GROUP: GridLevel.VILLAGE,
}


class SiteCategory(StrEnum):
    """Kinds of key pollution source (重点污染源)."""

    LIVESTOCK_FARM = "livestock_farm"
    WATER_BODY = "water_body"
    REFUSE_POINT = "refuse_point"
    INDUSTRIAL = "industrial"
    ROAD_SECTION = "road_section"
    FARMLAND = "farmland"


class WaterClass(StrEnum):
    """Surface water quality classes of GB 3838-2002 (Ⅰ–Ⅴ类), the target a section must meet."""

    I = "I"  # noqa: E741 - the standard's own name for the class
    II = "II"
    III = "III"
    IV = "IV"
    V = "V"


class WaterType(StrEnum):
    """River or lake/reservoir: GB 3838-2002 sets lower phosphorus limits for still water."""

    RIVER = "river"
    LAKE = "lake"


HJ212_MN_PATTERN = r"^[0-9A-Za-z]{1,24}$"
"""An HJ 212 MN: 24 hex characters in 2017/2025, 14 in 2005 (letters and digits seen)."""
HJ212_PW_PATTERN = r"^[0-9A-Za-z]{6}$"
"""An HJ 212 access password (PW): 6 characters."""


class NodeKind(StrEnum):
    """What a node is."""

    SENSOR = "sensor"
    CAMERA = "camera"


class OfficerRole(StrEnum):
    """What a person on duty does: works cases (网格员), closes them (审核员), runs the registry."""

    GRID_OFFICER = "grid_officer"
    REVIEWER = "reviewer"
    ADMIN = "admin"


Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]

# What no text may hold: C0 controls (NUL, \x01–\x1f), DEL and C1 controls (\x80–\x9f).
CONTROLS = r"\x00-\x1f\x7f-\x9f"
# Text of several lines may also hold tabs and line breaks (\t \n \r), nothing else of those.
TEXT_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"


def visible_pattern(controls: str = CONTROLS) -> str:
    """Text with at least one character that is not a blank, and none of ``controls``."""
    return rf"^[^{controls}]*[^\s{controls}][^{controls}]*$"


def visible(controls: str = CONTROLS) -> AfterValidator:
    """A check of ``visible_pattern`` that says in words what is wrong."""
    pattern = re.compile(visible_pattern(controls))

    def check(text: str) -> str:
        if not pattern.fullmatch(text):
            if text.isspace() or not text:
                raise ValueError("the text is blank")
            raise ValueError("the text holds a control character (NUL, \\x01–\\x1f, \\x7f–\\x9f)")
        return text

    return AfterValidator(check)


def _text(max_length: int, controls: str = CONTROLS) -> Any:
    # The pattern and lengths judge the text as sent, then surrounding blanks are dropped: what
    # the schema accepts is what is accepted, and what is stored is never blank.
    return Field(
        min_length=1,
        max_length=max_length,
        json_schema_extra={"pattern": visible_pattern(controls)},
    )


_strip = AfterValidator(str.strip)

Name = Annotated[str, _text(200), visible(), _strip]
LongText = Annotated[str, _text(4000, TEXT_CONTROLS), visible(TEXT_CONTROLS), _strip]
CensusRef = Annotated[str, _text(100), visible(), _strip]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ()-]{2,30}$")]
Email = Annotated[
    str, Field(pattern=rf"^[^@\s{CONTROLS}]+@[^@\s{CONTROLS}]+\.[^@\s{CONTROLS}]+$", max_length=254)
]


def water_details_problem(
    category: SiteCategory, target_class: WaterClass | None, water_type: WaterType | None
) -> str | None:
    """Why a site may not carry these water details, or None: only water bodies have them."""
    if category is not SiteCategory.WATER_BODY and (target_class or water_type):
        return "only a water body has a target water class or a water type"
    return None


def downstream_cycle(links: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A chain that flows back to where it started (``[a, b, a]``), or None if none does."""
    done: set[str] = set()
    for start in links:
        if start in done:
            continue
        # Iterative depth-first walk: ``path`` is the chain being followed from ``start``.
        path, on_path = [start], {start}
        stack = [iter(links.get(start, ()))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
            elif nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(links.get(nxt, ())))
    return None


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridCell(_Entry):
    """One cell of the grid."""

    id: Identifier
    level: GridLevel
    name: Name
    parent_id: Identifier | None = None


class Site(_Entry):
    """A watched place; it belongs to one grid cell."""

    id: Identifier
    name: Name
    category: SiteCategory
    cell_id: Identifier
    lon: Longitude | None = None
    lat: Latitude | None = None
    production_process: LongText | None = None
    treatment_requirements: LongText | None = None
    target_class: WaterClass | None = None
    water_type: WaterType | None = None
    downstream: tuple[Identifier, ...] = ()
    census_ref: CensusRef | None = None

    @model_validator(mode="after")
    def _details_fit(self) -> Site:
        problem = water_details_problem(self.category, self.target_class, self.water_type)
        if problem:
            raise ValueError(f"site {self.id}: {problem}")
        if self.id in self.downstream:
            raise ValueError(f"site {self.id}: a site cannot be downstream of itself")
        if len(set(self.downstream)) != len(self.downstream):
            raise ValueError(f"site {self.id}: a downstream site is listed twice")
        if (self.lon is None) != (self.lat is None):
            raise ValueError(f"site {self.id}: give both lon and lat, or neither")
        return self


class Node(_Entry):
    """A sensor or camera node; it watches one site."""

    id: Identifier
    site_id: Identifier
    kind: NodeKind = NodeKind.SENSOR
    report_interval_s: float = Field(default=60.0, gt=0)
    # An HJ 212 data-acquisition unit (数采仪) joining through the gateway: its MN and password.
    hj212_mn: str | None = Field(default=None, pattern=HJ212_MN_PATTERN)
    hj212_password: str | None = Field(default=None, pattern=HJ212_PW_PATTERN)


class Officer(_Entry):
    """A person on duty in one grid cell."""

    id: Identifier
    name: Name
    role: OfficerRole
    cell_id: Identifier
    phone: Phone | None = None
    email: Email | None = None
    active: bool = True


class Registry(_Entry):
    """A consistent set of cells, sites, nodes and officers (parents before children)."""

    cells: tuple[GridCell, ...] = ()
    sites: tuple[Site, ...] = ()
    nodes: tuple[Node, ...] = ()
    officers: tuple[Officer, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> Registry:
        cells = {c.id: c for c in self.cells}
        for cell in self.cells:
            want = PARENT_LEVEL[cell.level]
            parent = cells.get(cell.parent_id) if cell.parent_id else None
            if want is None and cell.parent_id is not None:
                raise ValueError(f"cell {cell.id}: a county has no parent")
            if want is not None and (parent is None or parent.level is not want):
                raise ValueError(f"cell {cell.id}: parent must be a {want.value} in this registry")
        site_ids = {s.id for s in self.sites}
        for site in self.sites:
            if site.cell_id not in cells:
                raise ValueError(f"site {site.id}: unknown cell {site.cell_id}")
            for down in site.downstream:
                if down not in site_ids:
                    raise ValueError(f"site {site.id}: unknown downstream site {down}")
        cycle = downstream_cycle({s.id: s.downstream for s in self.sites})
        if cycle:
            raise ValueError(f"downstream links flow in a circle: {' → '.join(cycle)}")
        mns: dict[str, str] = {}
        for node in self.nodes:
            if node.site_id not in site_ids:
                raise ValueError(f"node {node.id}: unknown site {node.site_id}")
            if node.hj212_mn is not None:
                other = mns.setdefault(node.hj212_mn, node.id)
                if other != node.id:
                    raise ValueError(f"node {node.id}: HJ 212 MN {node.hj212_mn} is {other}'s")
        for officer in self.officers:
            if officer.cell_id not in cells:
                raise ValueError(f"officer {officer.id}: unknown cell {officer.cell_id}")
        return self
