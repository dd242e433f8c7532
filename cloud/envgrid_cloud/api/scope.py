"""What a user may see: their cell and every cell below it (an admin: everything).

Out of someone's area, a thing answers 404 exactly as if it did not exist. Lists filter by the
area in their SQL; single things are checked with :func:`require_site` and its kin before
anything of them is read.
"""

from __future__ import annotations

from fastapi import HTTPException, status
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from envgrid_cloud.api.errors import not_found
from envgrid_cloud.api.sql import fetch_one
from envgrid_cloud.auth.principal import Principal


def area(principal: Principal) -> list[str] | None:
    """The cells a principal sees, as a query parameter; None for everywhere."""
    return None if principal.cells is None else list(principal.cells)


async def require_site(conn: AsyncConnection[DictRow], principal: Principal, site_id: str) -> None:
    """404 unless the site exists within the principal's area."""
    if await fetch_one(conn, "scope_site", site_id=site_id, area=area(principal)) is None:
        raise not_found("site", site_id)


async def require_node(conn: AsyncConnection[DictRow], principal: Principal, node_id: str) -> None:
    """404 unless the node exists at a site within the principal's area."""
    if await fetch_one(conn, "scope_node", node_id=node_id, area=area(principal)) is None:
        raise not_found("node", node_id)


async def require_cell(
    conn: AsyncConnection[DictRow], principal: Principal, cell_id: str, kind: str = "grid cell"
) -> None:
    """404 unless the cell is in the principal's area or above their own cell."""
    found = await fetch_one(
        conn, "scope_cell", cell_id=cell_id, home=principal.cell_id, area=area(principal)
    )
    if found is None:
        raise not_found(kind, cell_id)


async def require_case(conn: AsyncConnection[DictRow], principal: Principal, case_id: int) -> None:
    """404 unless the case is at a site in the area, or a township there was told of it."""
    if await fetch_one(conn, "scope_case", case_id=case_id, area=area(principal)) is None:
        # Case ids are numbers: said as the case store says it (no quotes).
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no case with id {case_id}")
