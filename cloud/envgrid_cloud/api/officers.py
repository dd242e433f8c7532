"""``/api/v1/officers``: the people on duty in each grid cell."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from envgrid_cloud.api.conflicts import conflict, require_cell, write_one, writing
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import not_found
from envgrid_cloud.api.models import Officer, OfficerCreate, OfficerRemoved, OfficerUpdate
from envgrid_cloud.queries import fetch_all, fetch_one
from envgrid_common.registry import OfficerRole

router = APIRouter(tags=["officers"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown officer (or filter cell)"}
}
WRITE: dict[int | str, dict[str, Any]] = {
    409: {"description": "The id is taken"},
    422: {"description": "Invalid fields, or an unknown grid cell"},
}


@router.get("/officers", summary="Officers", responses=NOT_FOUND)
async def list_officers(
    conn: Conn,
    cell_id: Annotated[
        str | None,
        Query(description="Only officers of this grid cell or any cell below it (辖区内)"),
    ] = None,
    role: Annotated[OfficerRole | None, Query(description="Only this role")] = None,
    active: Annotated[
        bool | None, Query(description="Only active (true) or deactivated (false) officers")
    ] = None,
) -> list[Officer]:
    """Officers by id, optionally of one role, within one cell's area."""
    if cell_id is not None and await fetch_one(conn, "grid_cell", cell_id=cell_id) is None:
        raise not_found("grid cell", cell_id)
    rows = await fetch_all(
        conn, "officers", cell_id=cell_id, role=role.value if role else None, active=active
    )
    return [Officer.model_validate(row) for row in rows]


@router.get("/officers/{officer_id}", summary="One officer", responses=NOT_FOUND)
async def get_officer(conn: Conn, officer_id: str) -> Officer:
    """One officer."""
    row = await fetch_one(conn, "officer", officer_id=officer_id)
    if row is None:
        raise not_found("officer", officer_id)
    return Officer.model_validate(row)


@router.post(
    "/officers", summary="Add an officer", status_code=status.HTTP_201_CREATED, responses=WRITE
)
async def create_officer(conn: Conn, body: OfficerCreate) -> Officer:
    """A new person on duty in a grid cell."""
    async with writing(conn):
        await require_cell(conn, body.cell_id)
        row = await write_one(conn, "officer_insert", body.model_dump(mode="json"))
        if row is None:
            raise conflict(f"an officer with id {body.id!r} already exists")
    return Officer.model_validate(row)


@router.put("/officers/{officer_id}", summary="Change an officer", responses={**NOT_FOUND, **WRITE})
async def update_officer(conn: Conn, officer_id: str, body: OfficerUpdate) -> Officer:
    """Replace an officer's details; `active: true` brings a deactivated officer back."""
    async with writing(conn):
        if await fetch_one(conn, "officer", officer_id=officer_id) is None:
            raise not_found("officer", officer_id)
        await require_cell(conn, body.cell_id)
        row = await write_one(
            conn, "officer_update", {**body.model_dump(mode="json"), "id": officer_id}
        )
    return Officer.model_validate(row)


@router.delete("/officers/{officer_id}", summary="Remove an officer", responses=NOT_FOUND)
async def remove_officer(conn: Conn, officer_id: str) -> OfficerRemoved:
    """Delete an officer; one named by cases is deactivated instead, so their files stay whole."""
    async with writing(conn):
        row = await fetch_one(conn, "officer_remove", officer_id=officer_id)
    if row is None:
        raise not_found("officer", officer_id)
    detail = (
        "cases name this officer, so they were deactivated and kept"
        if row["outcome"] == "deactivated"
        else "deleted"
    )
    return OfficerRemoved(id=row["id"], outcome=row["outcome"], detail=detail)
