"""``/api/v1/dead-letters``: messages refused by a gateway or the ingest, for operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid
from envgrid_cloud.api.instants import NAIVE_NOTE, parse_instant, within_range
from envgrid_cloud.api.models.dead_letters import DeadLetter, DeadLetters
from envgrid_cloud.api.params import id_query, instant_query
from envgrid_cloud.api.scope import area
from envgrid_cloud.api.security import CurrentUser
from envgrid_cloud.api.sql import fetch_all

router = APIRouter(tags=["dead letters"])


@router.get("/dead-letters", summary="Refused messages (死信), newest first")
async def list_dead_letters(
    conn: Conn,
    principal: CurrentUser,
    source: Annotated[
        str | None, id_query("Only those refused by this gateway id or component")
    ] = None,
    since: Annotated[
        str | None, instant_query(f"Only those stored at or after this time. {NAIVE_NOTE}")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most items returned")] = 100,
) -> DeadLetters:
    """The newest dead letters of your area's nodes with why each was refused, and how many
    match in all (an administrator sees every one, those naming no node too)."""
    try:
        since_at = within_range(parse_instant(since)) if since is not None else None
    except ValueError as exc:
        raise invalid("since", str(exc), since) from None
    rows = await fetch_all(
        conn, "dead_letters", source=source, since=since_at, limit=limit, area=area(principal)
    )
    return DeadLetters(
        count=rows[0]["total"] if rows else 0,
        items=[DeadLetter.model_validate(row) for row in rows],
    )
