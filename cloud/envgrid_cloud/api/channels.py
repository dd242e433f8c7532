"""``/api/v1/channels``: where notifications go (WeCom and DingTalk robots, e-mail).

Everyone sees the channels that concern their area, with their health (``failing``, the last
error, what waits), so the desk can show a channel that keeps failing; only an administrator
adds, changes or removes one, or reads what was sent to it. Webhook URLs are shown with their
key or token cut short, and a DingTalk secret is never shown.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from fastapi.exceptions import RequestValidationError
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from pydantic import ValidationError

from envgrid_cloud.api import scope
from envgrid_cloud.api.conflicts import require_cell, write_one, writing
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid, not_found
from envgrid_cloud.api.models.channels import (
    DEFAULT_RATE,
    ChannelCreate,
    ChannelKind,
    ChannelRemoved,
    ChannelUpdate,
    NotifyChannel,
    mask,
)
from envgrid_cloud.api.models.deliveries import Attempt
from envgrid_cloud.api.security import FORBIDDEN, Admin, CurrentUser
from envgrid_cloud.api.sql import fetch_all, fetch_one, load
from envgrid_cloud.auth.principal import Principal

router = APIRouter(tags=["notifications"])

MAX_ID = 2**63 - 1
ChannelId = Annotated[int, Path(ge=1, le=MAX_ID, description="The channel's id")]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown channel, or not one of your area"}
}
WRITE: dict[int | str, dict[str, Any]] = {
    **FORBIDDEN,
    409: {"description": "The change clashes with data written meanwhile"},
    422: {"description": "Invalid fields, a target unfit for the kind, an unknown cell or user"},
}


def _out(row: DictRow) -> NotifyChannel:
    return NotifyChannel.model_validate({**row, "target": mask(row["kind"], row["target"])})


async def _one(
    conn: AsyncConnection[DictRow], principal: Principal | None, channel_id: int
) -> NotifyChannel:
    rows = await fetch_all(
        conn,
        "channels",
        id=channel_id,
        failing=None,
        kind=None,
        enabled=None,
        **_scope(principal),
    )
    if not rows:
        raise not_found("channel", str(channel_id))
    return _out(rows[0])


def _scope(principal: Principal | None) -> dict[str, Any]:
    if principal is None:
        return {"area": None, "user_id": None, "home": None}
    return {"area": scope.area(principal), "user_id": principal.user_id, "home": principal.cell_id}


async def _check_refs(conn: AsyncConnection[DictRow], body: ChannelCreate) -> None:
    if body.cell_id is not None:
        await require_cell(conn, body.cell_id)
    if body.user_id is not None:
        found = await fetch_one(conn, "user", user_id=body.user_id, area=None)
        if found is None:
            raise invalid("user_id", f"no user with id {body.user_id!r}", body.user_id, "body")


def _params(body: ChannelCreate) -> dict[str, Any]:
    return {
        **body.model_dump(mode="json", exclude={"rate_per_minute"}),
        "rate_per_minute": body.rate(),
    }


@router.get("/channels", summary="Notification channels")
async def list_channels(
    conn: Conn,
    principal: CurrentUser,
    failing: Annotated[
        bool | None, Query(description="true: only those failing (to show on the desk)")
    ] = None,
    kind: Annotated[ChannelKind | None, Query(description="Only of this kind")] = None,
    enabled: Annotated[bool | None, Query(description="Only enabled (true) or not")] = None,
) -> list[NotifyChannel]:
    """The channels of your area (an administrator: all) and their health, by id."""
    rows = await fetch_all(
        conn,
        "channels",
        id=None,
        failing=failing,
        kind=kind.value if kind else None,
        enabled=enabled,
        **_scope(principal),
    )
    return [_out(row) for row in rows]


@router.get("/channels/{channel_id}", summary="One notification channel", responses=NOT_FOUND)
async def get_channel(conn: Conn, principal: CurrentUser, channel_id: ChannelId) -> NotifyChannel:
    """One channel of your area and its health."""
    return await _one(conn, principal, channel_id)


@router.post(
    "/channels",
    summary="Add a notification channel",
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
async def create_channel(conn: Conn, _admin: Admin, body: ChannelCreate) -> NotifyChannel:
    """A group's channel (an area, or everywhere) or a person's (``user_id``)."""
    async with writing(conn):
        await _check_refs(conn, body)
        row = await write_one(conn, "channel_insert", _params(body))
    assert row is not None
    return await _one(conn, None, row["id"])


@router.patch(
    "/channels/{channel_id}",
    summary="Change a notification channel",
    responses={**NOT_FOUND, **WRITE},
)
async def update_channel(
    conn: Conn, _admin: Admin, channel_id: ChannelId, body: ChannelUpdate
) -> NotifyChannel:
    """Change the fields sent; disabling drops what waits for the channel, a new target starts
    it afresh (not failing)."""
    async with writing(conn):
        current = await fetch_one(conn, "channel_row", id=channel_id)
        if current is None:
            raise not_found("channel", str(channel_id))
        merged = {
            name: current[name] for name in ChannelCreate.model_fields if name != "rate_per_minute"
        }
        merged["rate_per_minute"] = current["rate_per_minute"]
        merged.update(body.model_dump(exclude_unset=True))
        if "kind" in body.model_fields_set and "rate_per_minute" not in body.model_fields_set:
            merged["rate_per_minute"] = DEFAULT_RATE[str(merged["kind"])]
        try:
            changed = ChannelCreate.model_validate(merged)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None
        await _check_refs(conn, changed)
        await conn.execute(load("channel_update"), {**_params(changed), "id": channel_id})
    return await _one(conn, None, channel_id)


@router.delete(
    "/channels/{channel_id}",
    summary="Remove a notification channel",
    responses={**NOT_FOUND, **FORBIDDEN},
)
async def remove_channel(conn: Conn, _admin: Admin, channel_id: ChannelId) -> ChannelRemoved:
    """Delete a channel; one that was ever sent anything is disabled instead (cases keep their
    record of who was told), and what waited for it is dropped."""
    async with writing(conn):
        row = await fetch_one(conn, "channel_remove", id=channel_id)
    if row is None:
        raise not_found("channel", str(channel_id))
    detail = (
        "cases were notified through it, so it was disabled and kept"
        if row["outcome"] == "disabled"
        else "deleted"
    )
    return ChannelRemoved(id=row["id"], outcome=row["outcome"], detail=detail)


@router.get(
    "/channels/{channel_id}/attempts",
    summary="What was sent to a channel, and the answers",
    responses={**NOT_FOUND, **FORBIDDEN},
)
async def channel_attempts(
    conn: Conn,
    _admin: Admin,
    channel_id: ChannelId,
    limit: Annotated[int, Query(ge=1, le=500, description="Most attempts returned")] = 50,
) -> list[Attempt]:
    """The channel's latest attempts, newest first: what was sent, ok or not, the answer."""
    await _one(conn, None, channel_id)
    rows = await fetch_all(conn, "channel_attempts", id=channel_id, limit=limit)
    return [Attempt.model_validate(row) for row in rows]
