"""``/api/v1/users``: the people who sign in (grid officers, reviewers, administrators).

Everyone sees the users of their own area (their cell and every cell below it); only an
administrator adds, changes or removes one. Passwords are set here when a user is added, and
with ``envgrid users passwd``; a user changes their own at ``/api/v1/auth/password``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status

from envgrid_cloud.api import scope
from envgrid_cloud.api.conflicts import conflict, require_cell, write_one, writing
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid, not_found
from envgrid_cloud.api.models.users import User, UserCreate, UserRemoved, UserUpdate
from envgrid_cloud.api.params import Id, id_query
from envgrid_cloud.api.security import FORBIDDEN, Admin, CurrentUser
from envgrid_cloud.api.sql import fetch_all, fetch_one
from envgrid_cloud.auth.passwords import WeakPassword, hash_password
from envgrid_common.registry import OfficerRole

router = APIRouter(tags=["users"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown user, or not in your area (or unknown filter cell)"}
}
WRITE: dict[int | str, dict[str, Any]] = {
    **FORBIDDEN,
    409: {"description": "The id or the login name is taken"},
    422: {"description": "Invalid fields, an unknown grid cell, or a weak password"},
}


@router.get("/users", summary="Users", responses=NOT_FOUND)
async def list_users(
    conn: Conn,
    principal: CurrentUser,
    cell_id: Annotated[
        str | None, id_query("Only users of this grid cell or any cell below it")
    ] = None,
    role: Annotated[OfficerRole | None, Query(description="Only this role")] = None,
    active: Annotated[
        bool | None, Query(description="Only active (true) or deactivated (false) users")
    ] = None,
) -> list[User]:
    """Users of your area by id, optionally of one role, within one cell's area."""
    if cell_id is not None:
        await scope.require_cell(conn, principal, cell_id)
    rows = await fetch_all(
        conn,
        "users",
        cell_id=cell_id,
        role=role.value if role else None,
        active=active,
        area=scope.area(principal),
    )
    return [User.model_validate(row) for row in rows]


@router.get("/users/{user_id}", summary="One user", responses=NOT_FOUND)
async def get_user(conn: Conn, principal: CurrentUser, user_id: Id) -> User:
    """One user of your area."""
    row = await fetch_one(conn, "user", user_id=user_id, area=scope.area(principal))
    if row is None:
        raise not_found("user", user_id)
    return User.model_validate(row)


@router.post("/users", summary="Add a user", status_code=status.HTTP_201_CREATED, responses=WRITE)
async def create_user(request: Request, conn: Conn, _admin: Admin, body: UserCreate) -> User:
    """A new person who signs in; without a password they cannot until one is set."""
    password_hash = None
    if body.password is not None:
        try:
            password_hash = await asyncio.to_thread(hash_password, body.password)
        except WeakPassword as weak:
            raise invalid("password", str(weak), None, where="body") from None
    async with writing(conn):
        if body.cell_id is not None:
            await require_cell(conn, body.cell_id)
        fields = body.model_dump(mode="json", exclude={"password"})
        row = await write_one(conn, "user_insert", {**fields, "password_hash": password_hash})
        if row is None:
            raise conflict(f"a user with id {body.id!r} or login {body.login!r} already exists")
    return User.model_validate(row)


@router.put("/users/{user_id}", summary="Change a user", responses={**NOT_FOUND, **WRITE})
async def update_user(conn: Conn, _admin: Admin, user_id: Id, body: UserUpdate) -> User:
    """Replace a user's details; `active: false` ends their sessions and their tokens' use."""
    async with writing(conn):
        if await fetch_one(conn, "user", user_id=user_id, area=None) is None:
            raise not_found("user", user_id)
        if body.cell_id is not None:
            await require_cell(conn, body.cell_id)
        row = await write_one(conn, "user_update", {**body.model_dump(mode="json"), "id": user_id})
    return User.model_validate(row)


@router.delete("/users/{user_id}", summary="Remove a user", responses={**NOT_FOUND, **FORBIDDEN})
async def remove_user(conn: Conn, _admin: Admin, user_id: Id) -> UserRemoved:
    """Delete a user; one named by cases is deactivated instead, so their files stay whole."""
    async with writing(conn):
        row = await fetch_one(conn, "user_remove", user_id=user_id)
    if row is None:
        raise not_found("user", user_id)
    detail = (
        "cases name this user, so they were deactivated and kept"
        if row["outcome"] == "deactivated"
        else "deleted"
    )
    return UserRemoved(id=row["id"], outcome=row["outcome"], detail=detail)
