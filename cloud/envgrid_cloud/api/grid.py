"""``/api/v1/grid``: the grid cells (网格), county down to villager group."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from envgrid_cloud.api import scope
from envgrid_cloud.api.conflicts import conflict, plural, require_cell, write_one, writing
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid, not_found
from envgrid_cloud.api.models.grid import GridCell, GridCellCreate, GridCellUpdate
from envgrid_cloud.api.params import Id
from envgrid_cloud.api.scope import area
from envgrid_cloud.api.security import Admin, CurrentUser
from envgrid_cloud.api.sql import fetch_all, fetch_one
from envgrid_common.registry import PARENT_LEVEL, GridLevel

router = APIRouter(tags=["grid"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown grid cell"}}
WRITE: dict[int | str, dict[str, Any]] = {
    409: {"description": "The id is taken, or the change would strand cells, sites or people"},
    422: {"description": "Invalid fields, or a parent that is missing or of the wrong level"},
}


@router.get("/grid", summary="Grid cells")
async def list_cells(
    conn: Conn,
    principal: CurrentUser,
    level: Annotated[GridLevel | None, Query(description="Only cells of this level")] = None,
) -> list[GridCell]:
    """The cells of your area and those above your own, counties first, then townships,
    villages and groups."""
    rows = await fetch_all(
        conn,
        "grid_cells",
        level=level.value if level else None,
        home=principal.cell_id,
        area=area(principal),
    )
    return [GridCell.model_validate(row) for row in rows]


@router.get("/grid/{cell_id}", summary="One grid cell", responses=NOT_FOUND)
async def get_cell(conn: Conn, principal: CurrentUser, cell_id: Id) -> GridCell:
    """One cell of your area, or above your own."""
    await scope.require_cell(conn, principal, cell_id)
    row = await fetch_one(conn, "grid_cell", cell_id=cell_id)
    if row is None:
        raise not_found("grid cell", cell_id)
    return GridCell.model_validate(row)


async def _check_parent(conn: Conn, body: GridCellUpdate) -> None:
    """The parent exists and sits exactly one level up."""
    if body.parent_id is None:
        return
    parent = await require_cell(conn, body.parent_id, "parent_id")
    want = PARENT_LEVEL[body.level]
    if want is not None and parent["level"] != want.value:
        raise invalid(
            "parent_id",
            f"the parent of a {body.level.value} must be a {want.value};"
            f" {body.parent_id!r} is a {parent['level']}",
            body.parent_id,
            "body",
        )


@router.post(
    "/grid",
    summary="Create a grid cell",
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
async def create_cell(conn: Conn, _admin: Admin, body: GridCellCreate) -> GridCell:
    """A new cell under a parent one level up (none for a county)."""
    async with writing(conn):
        await _check_parent(conn, body)
        row = await write_one(conn, "cell_insert", body.model_dump(mode="json"))
        if row is None:
            raise conflict(f"a grid cell with id {body.id!r} already exists")
    return GridCell.model_validate(row)


@router.put("/grid/{cell_id}", summary="Change a grid cell", responses={**NOT_FOUND, **WRITE})
async def update_cell(conn: Conn, _admin: Admin, cell_id: Id, body: GridCellUpdate) -> GridCell:
    """Rename a cell, or move it under another parent; its level changes only while it is empty."""
    async with writing(conn):
        old = await fetch_one(conn, "grid_cell", cell_id=cell_id)
        if old is None:
            raise not_found("grid cell", cell_id)
        await _check_parent(conn, body)
        if old["level"] != body.level.value:
            usage = await fetch_one(conn, "cell_usage", cell_id=cell_id)
            if usage and usage["children"]:
                raise conflict(
                    f"grid cell {cell_id!r} has {plural(usage['children'], 'child cell')};"
                    f" it stays a {old['level']} until they are moved or deleted"
                )
        row = await write_one(conn, "cell_update", {**body.model_dump(mode="json"), "id": cell_id})
    return GridCell.model_validate(row)


@router.delete(
    "/grid/{cell_id}",
    summary="Delete a grid cell",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**NOT_FOUND, 409: {"description": "Cells, sites, users or cases refer to it"}},
)
async def delete_cell(conn: Conn, _admin: Admin, cell_id: Id) -> None:
    """Delete a cell nothing refers to any more."""
    async with writing(conn):
        usage = await fetch_one(conn, "cell_usage", cell_id=cell_id)
        if usage is not None and usage["cases"]:
            raise conflict(
                f"grid cell {cell_id!r} is named by {plural(usage['cases'], 'case')},"
                " whose files are kept; it cannot be deleted"
            )
        if usage is not None:
            held = [
                plural(usage[key], noun)
                for key, noun in (
                    ("children", "child cell"),
                    ("sites", "site"),
                    ("users", "user"),
                )
                if usage[key]
            ]
            if held:
                raise conflict(
                    f"grid cell {cell_id!r} still has {', '.join(held)}; move or delete them first"
                )
        if await fetch_one(conn, "cell_delete", cell_id=cell_id) is None:
            raise not_found("grid cell", cell_id)
