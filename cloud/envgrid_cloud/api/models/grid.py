"""Grid cells (网格) as the API shows and takes them."""

from __future__ import annotations

from pydantic import Field, model_validator

from envgrid_cloud.api.models.common import In, Out
from envgrid_common.messages import Identifier
from envgrid_common.registry import (
    PARENT_LEVEL,
    GridLevel,
    Name,
)


class GridCell(Out):
    """A cell of the grid (网格): county, township, village or villager group."""

    id: str
    level: GridLevel = Field(description="county 县 · township 乡镇 · village 村 · group 村民小组")
    name: str
    parent_id: str | None = Field(description="The enclosing cell; null for a county")


class GridCellUpdate(In):
    """A grid cell's new level, name and parent."""

    level: GridLevel
    name: Name
    parent_id: Identifier | None = Field(
        default=None, description="The enclosing cell (one level up); omit for a county"
    )

    @model_validator(mode="after")
    def _parent_fits_level(self) -> GridCellUpdate:
        want = PARENT_LEVEL[self.level]
        if want is None and self.parent_id is not None:
            raise ValueError("a county has no parent cell")
        if want is not None and self.parent_id is None:
            raise ValueError(f"a {self.level.value} needs a parent_id (a {want.value})")
        return self


class GridCellCreate(GridCellUpdate):
    """A new grid cell."""

    id: Identifier
