"""``/api/v1/audit``: the audit log (审计日志), for administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid
from envgrid_cloud.api.instants import NAIVE_NOTE, parse_instant, within_range
from envgrid_cloud.api.models.audit import AuditEntry, AuditLog
from envgrid_cloud.api.params import Offset, instant_query, text_query
from envgrid_cloud.api.security import FORBIDDEN, UNAUTHORIZED, Admin
from envgrid_cloud.api.sql import fetch_all

router = APIRouter(tags=["audit"])


@router.get(
    "/audit", summary="The audit log, newest first", responses={**UNAUTHORIZED, **FORBIDDEN}
)
async def audit_log(
    conn: Conn,
    _admin: Admin,
    actor: Annotated[str | None, text_query("Only this actor's")] = None,
    action: Annotated[str | None, text_query("Only this action, e.g. 'token used'")] = None,
    since: Annotated[str | None, instant_query(f"From this time on. {NAIVE_NOTE}")] = None,
    until: Annotated[str | None, instant_query(f"Before this time. {NAIVE_NOTE}")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> AuditLog:
    """Every write, case action, login and token use: who, when, what, from where."""
    instants = {}
    for name, text in (("since", since), ("until", until)):
        try:
            instants[name] = within_range(parse_instant(text)) if text is not None else None
        except ValueError as exc:
            raise invalid(name, str(exc), text) from None
    rows = await fetch_all(
        conn,
        "audit_list",
        actor=actor,
        action=action,
        **instants,
        limit=limit,
        offset=offset,
    )
    return AuditLog(
        count=rows[0]["total"] if rows else 0,
        items=[AuditEntry.model_validate(r) for r in rows],
    )
