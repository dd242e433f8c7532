"""``/api/v1/audit``: the audit log (审计日志), for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from envgrid_cloud.api.auth_models import AuditEntry, AuditLog
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.security import FORBIDDEN, UNAUTHORIZED, Admin
from envgrid_cloud.queries import fetch_all

router = APIRouter(tags=["audit"])


@router.get(
    "/audit", summary="The audit log, newest first", responses={**UNAUTHORIZED, **FORBIDDEN}
)
async def audit_log(
    conn: Conn,
    _admin: Admin,
    actor: Annotated[str | None, Query(max_length=200, description="Only this actor's")] = None,
    action: Annotated[
        str | None, Query(max_length=200, description="Only this action, e.g. 'token used'")
    ] = None,
    since: Annotated[datetime | None, Query(description="From this time on")] = None,
    until: Annotated[datetime | None, Query(description="Before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditLog:
    """Every write, case action, login and token use: who, when, what, from where."""
    rows = await fetch_all(
        conn,
        "audit_list",
        actor=actor,
        action=action,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return AuditLog(
        count=rows[0]["total"] if rows else 0,
        items=[AuditEntry.model_validate(r) for r in rows],
    )
