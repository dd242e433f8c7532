"""``/api/v1/grid``: the grid cells (网格), county down to villager group."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import not_found
from envgrid_cloud.api.models import GridCell
from envgrid_cloud.queries import fetch_all, fetch_one
from envgrid_common.registry import GridLevel

router = APIRouter(tags=["grid"])


@router.get("/grid", summary="Grid cells")
async def list_cells(
    conn: Conn,
    level: Annotated[GridLevel | None, Query(description="Only cells of this level")] = None,
) -> list[GridCell]:
    """Every cell, counties first, then townships, villages and groups."""
    rows = await fetch_all(conn, "grid_cells", level=level.value if level else None)
    return [GridCell.model_validate(row) for row in rows]


@router.get("/grid/{cell_id}", summary="One grid cell", responses={404: {"description": "Unknown"}})
async def get_cell(conn: Conn, cell_id: str) -> GridCell:
    """One cell."""
    row = await fetch_one(conn, "grid_cell", cell_id=cell_id)
    if row is None:
        raise not_found("grid cell", cell_id)
    return GridCell.model_validate(row)
