"""``/api/v1/sites``: watched pollution sources (重点污染源) and their nodes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import not_found
from envgrid_cloud.api.models import Node, Site, SiteDetail
from envgrid_cloud.queries import fetch_all, fetch_one
from envgrid_common.registry import SiteCategory

router = APIRouter(tags=["sites"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown site (or filter cell)"}}


@router.get("/sites", summary="Sites", responses=NOT_FOUND)
async def list_sites(
    conn: Conn,
    category: Annotated[SiteCategory | None, Query(description="Only this category")] = None,
    cell_id: Annotated[
        str | None,
        Query(description="Only sites in this grid cell or any cell below it (辖区内)"),
    ] = None,
) -> list[Site]:
    """Sites by id, optionally of one category and within one cell's area."""
    if cell_id is not None and await fetch_one(conn, "grid_cell", cell_id=cell_id) is None:
        raise not_found("grid cell", cell_id)
    rows = await fetch_all(
        conn, "sites", category=category.value if category else None, cell_id=cell_id
    )
    return [Site.model_validate(row) for row in rows]


@router.get("/sites/{site_id}", summary="One site with its nodes", responses=NOT_FOUND)
async def get_site(conn: Conn, site_id: str) -> SiteDetail:
    """One site and the nodes that watch it."""
    row = await fetch_one(conn, "site", site_id=site_id)
    if row is None:
        raise not_found("site", site_id)
    nodes = await fetch_all(conn, "nodes", site_id=site_id)
    return SiteDetail.model_validate({**row, "nodes": [Node.model_validate(n) for n in nodes]})
