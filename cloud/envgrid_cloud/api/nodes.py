"""``/api/v1/nodes``: sensor and camera nodes (监测点位)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import not_found
from envgrid_cloud.api.models import Node
from envgrid_cloud.queries import fetch_all, fetch_one

router = APIRouter(tags=["nodes"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown node (or filter site)"}}


@router.get("/nodes", summary="Nodes", responses=NOT_FOUND)
async def list_nodes(
    conn: Conn,
    site_id: Annotated[str | None, Query(description="Only the nodes of this site")] = None,
) -> list[Node]:
    """Nodes by id, optionally of one site."""
    if site_id is not None and await fetch_one(conn, "site", site_id=site_id) is None:
        raise not_found("site", site_id)
    rows = await fetch_all(conn, "nodes", site_id=site_id)
    return [Node.model_validate(row) for row in rows]


@router.get("/nodes/{node_id}", summary="One node", responses=NOT_FOUND)
async def get_node(conn: Conn, node_id: str) -> Node:
    """One node, with its liveness and when it last reported."""
    row = await fetch_one(conn, "node", node_id=node_id)
    if row is None:
        raise not_found("node", node_id)
    return Node.model_validate(row)
