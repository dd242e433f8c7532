"""Places and things: the grid, sites and nodes, as a scenario or a census hands them over."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class NodeKind(StrEnum):
    """What a node is."""

    SENSOR = "sensor"
    CAMERA = "camera"


Longitude = Annotated[float, Field(ge=-180, le=180)]
Latitude = Annotated[float, Field(ge=-90, le=90)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridCell(_Entry):
    """One cell of the grid."""

    id: Identifier
    level: GridLevel
    name: str = Field(min_length=1, max_length=200)
    parent_id: Identifier | None = None


class Site(_Entry):
    """A watched place; it belongs to one grid cell."""

    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    category: SiteCategory
    cell_id: Identifier
    lon: Longitude | None = None
    lat: Latitude | None = None


class Node(_Entry):
    """A sensor or camera node; it watches one site."""

    id: Identifier
    site_id: Identifier
    kind: NodeKind = NodeKind.SENSOR
    report_interval_s: float = Field(default=60.0, gt=0)


class Registry(_Entry):
    """A consistent set of cells, sites and nodes (parents before children)."""

    cells: tuple[GridCell, ...] = ()
    sites: tuple[Site, ...] = ()
    nodes: tuple[Node, ...] = ()

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
        for node in self.nodes:
            if node.site_id not in site_ids:
                raise ValueError(f"node {node.id}: unknown site {node.site_id}")
        return self
