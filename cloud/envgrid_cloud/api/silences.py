"""``/api/v1/silences``: quiet periods (静默) that hold a site's or a rule's notifications.

An administrator, or a reviewer within their area, silences a site or a rule until a stated
time, saying why (maintenance, known works); cases are still raised and recorded, their
notifications wait and go when the silence ends, if the case is still open. Everyone sees the
silences that concern their area, who set them and when they end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from envgrid_cloud.api import scope
from envgrid_cloud.api.conflicts import require_cell, write_one, writing
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid, not_found
from envgrid_cloud.api.models.silences import Silence, SilenceCreate
from envgrid_cloud.api.security import FORBIDDEN, CurrentUser
from envgrid_cloud.api.sql import fetch_all, fetch_one
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.cases.model import Role
from envgrid_common.messages import ID_PATTERN

router = APIRouter(tags=["notifications"])

MAX_ID = 2**63 - 1
LONGEST = timedelta(days=31)  # a silence longer than a month is a channel to disable instead
SilenceId = Annotated[int, Path(ge=1, le=MAX_ID, description="The silence's id")]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown silence or site, or not of your area"}
}
WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not an administrator or a reviewer, or outside the reviewer's area"},
    422: {"description": "Nothing named to silence, an unknown cell, or a time out of range"},
}


def _reviewer(principal: Principal) -> None:
    if principal.role not in (Role.REVIEWER, Role.ADMIN):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="only an administrator or a reviewer may silence or lift a silence",
        )


async def _silences(
    conn: AsyncConnection[DictRow],
    principal: Principal | None,
    *,
    silence_id: int | None = None,
    active: bool | None = None,
    site_id: str | None = None,
    limit: int = 1,
) -> list[DictRow]:
    """The silences that concern ``principal``'s area (None: all) and match, latest set first."""
    return await fetch_all(
        conn,
        "silences",
        id=silence_id,
        active=active,
        site_id=site_id,
        now=datetime.now(UTC),
        limit=limit,
        area=None if principal is None else scope.area(principal),
        home=None if principal is None else principal.cell_id,
    )


async def _find(
    conn: AsyncConnection[DictRow], principal: Principal | None, silence_id: int
) -> DictRow:
    rows = await _silences(conn, principal, silence_id=silence_id)
    if not rows:
        raise not_found("silence", str(silence_id))
    return rows[0]


@router.get("/silences", summary="Silences (静默)", responses=NOT_FOUND)
async def list_silences(
    conn: Conn,
    principal: CurrentUser,
    active: Annotated[
        bool | None, Query(description="true: neither lifted nor ended; false: over")
    ] = None,
    site_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="Only this site's")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most items returned")] = 200,
) -> list[Silence]:
    """Silences that concern your area, the latest set first."""
    if site_id is not None:
        await scope.require_site(conn, principal, site_id)
    rows = await _silences(conn, principal, active=active, site_id=site_id, limit=limit)
    return [Silence.model_validate(row) for row in rows]


@router.get("/silences/{silence_id}", summary="One silence", responses=NOT_FOUND)
async def get_silence(conn: Conn, principal: CurrentUser, silence_id: SilenceId) -> Silence:
    """One silence that concerns your area."""
    return Silence.model_validate(await _find(conn, principal, silence_id))


@router.post(
    "/silences",
    summary="Silence a site or a rule for a while",
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **WRITE},
)
async def create_silence(conn: Conn, principal: CurrentUser, body: SilenceCreate) -> Silence:
    """Hold the notifications of a site (or of a rule, within an area) until ``until``.

    A reviewer silences within their area: a site of it, or a rule within their cell or a
    cell below it (their own cell by default); an administrator anything, a rule everywhere
    by default.
    """
    _reviewer(principal)
    now = datetime.now(UTC)
    starts = body.starts_at or now
    if body.until <= max(starts, now):
        raise invalid("until", "the silence must end after it starts, and in the future",
                      body.until.isoformat(), "body")  # fmt: skip
    if body.until - max(starts, now) > LONGEST or starts - now > LONGEST:
        raise invalid("until", f"a silence lasts at most {LONGEST.days} days, and starts "
                      "within as long", body.until.isoformat(), "body")  # fmt: skip
    cell_id = body.cell_id
    if body.site_id is not None:
        await scope.require_site(conn, principal, body.site_id)
    elif not principal.is_admin:
        cell_id = cell_id or principal.cell_id
        if cell_id not in (principal.cells or ()):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"a reviewer may silence a rule only within their area "
                f"({principal.cell_id!r} and below)",
            )
    async with writing(conn):
        if cell_id is not None:
            await require_cell(conn, cell_id)
        row = await write_one(
            conn,
            "silence_insert",
            {
                "site_id": body.site_id,
                "rule_id": body.rule_id,
                "cell_id": cell_id,
                "reason": body.reason,
                "starts_at": starts,
                "until": body.until,
                "set_by": principal.user_id,
            },
        )
    assert row is not None
    return Silence.model_validate(await _find(conn, None, row["id"]))


@router.post(
    "/silences/{silence_id}/lift",
    summary="Lift a silence before it ends",
    responses={**NOT_FOUND, **FORBIDDEN, 409: {"description": "It has ended or was lifted"}},
)
async def lift_silence(conn: Conn, principal: CurrentUser, silence_id: SilenceId) -> Silence:
    """End a silence now: what it held goes (if the case is still open). A reviewer lifts the
    silences of their area (not one above it or everywhere)."""
    _reviewer(principal)
    found = await _find(conn, principal, silence_id)
    if not principal.is_admin and not await _within(conn, principal, found):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"silence {silence_id} reaches beyond your area; an administrator may lift it",
        )
    async with writing(conn):
        lifted = await fetch_one(
            conn, "silence_lift", id=silence_id, now=datetime.now(UTC), by=principal.user_id
        )
    if lifted is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"silence {silence_id} has ended or was lifted"
        )
    return Silence.model_validate(await _find(conn, None, silence_id))


async def _within(conn: AsyncConnection[DictRow], principal: Principal, silence: DictRow) -> bool:
    cells = principal.cells or ()
    if silence["site_id"] is not None:
        site = await fetch_one(conn, "site", site_id=silence["site_id"])
        return site is not None and site["cell_id"] in cells
    return silence["cell_id"] in cells
