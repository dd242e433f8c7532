"""``/api/v1/nodes``: sensor and camera nodes (监测点位)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, status

from envgrid_cloud.api import scope
from envgrid_cloud.api.conflicts import conflict, plural, require_site, write_one, writing
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import not_found
from envgrid_cloud.api.models.nodes import Node, NodeCreate, NodeUpdate
from envgrid_cloud.api.params import Id, id_query
from envgrid_cloud.api.scope import area
from envgrid_cloud.api.security import Admin, CurrentUser
from envgrid_cloud.api.sql import fetch_all, fetch_one

router = APIRouter(tags=["nodes"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown node (or filter site)"}}
WRITE: dict[int | str, dict[str, Any]] = {
    409: {"description": "The id is taken"},
    422: {"description": "Invalid fields, or an unknown site"},
}


@router.get("/nodes", summary="Nodes", responses=NOT_FOUND)
async def list_nodes(
    conn: Conn,
    principal: CurrentUser,
    site_id: Annotated[str | None, id_query("Only the nodes of this site")] = None,
) -> list[Node]:
    """Nodes at the sites of your area by id, optionally of one site."""
    if site_id is not None:
        await scope.require_site(conn, principal, site_id)
    rows = await fetch_all(conn, "nodes", site_id=site_id, area=area(principal))
    return [Node.model_validate(row) for row in rows]


@router.get("/nodes/{node_id}", summary="One node", responses=NOT_FOUND)
async def get_node(conn: Conn, principal: CurrentUser, node_id: Id) -> Node:
    """One node of your area, with its liveness and when it last reported."""
    await scope.require_node(conn, principal, node_id)
    return await _node(conn, node_id)


async def _node(conn: Conn, node_id: str) -> Node:
    row = await fetch_one(conn, "node", node_id=node_id)
    if row is None:
        raise not_found("node", node_id)
    return Node.model_validate(row)


@router.post(
    "/nodes", summary="Register a node", status_code=status.HTTP_201_CREATED, responses=WRITE
)
async def create_node(conn: Conn, _admin: Admin, body: NodeCreate) -> Node:
    """A new node watching a site; its liveness is unknown until it reports."""
    async with writing(conn):
        await require_site(conn, body.site_id)
        if await write_one(conn, "registry_node_insert", body.model_dump(mode="json")) is None:
            raise conflict(f"a node with id {body.id!r} already exists")
    return await _node(conn, body.id)


@router.put("/nodes/{node_id}", summary="Change a node", responses={**NOT_FOUND, **WRITE})
async def update_node(conn: Conn, _admin: Admin, node_id: Id, body: NodeUpdate) -> Node:
    """Move a node to another site, or change its kind or reporting interval."""
    async with writing(conn):
        if await fetch_one(conn, "node", node_id=node_id) is None:
            raise not_found("node", node_id)
        await require_site(conn, body.site_id)
        await write_one(
            conn, "registry_node_update", {**body.model_dump(mode="json"), "id": node_id}
        )
    return await _node(conn, node_id)


@router.delete(
    "/nodes/{node_id}",
    summary="Delete a node",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**NOT_FOUND, 409: {"description": "Cases name it as their source"}},
)
async def delete_node(conn: Conn, _admin: Admin, node_id: Id) -> None:
    """Delete a node no case names; the readings it sent stay stored."""
    async with writing(conn):
        usage = await fetch_one(conn, "registry_node_cases", node_id=node_id)
        if usage is not None and usage["cases"]:
            raise conflict(
                f"node {node_id!r} is named by {plural(usage['cases'], 'case')},"
                " whose files are kept; it cannot be deleted"
            )
        if await fetch_one(conn, "registry_node_delete", node_id=node_id) is None:
            raise not_found("node", node_id)
