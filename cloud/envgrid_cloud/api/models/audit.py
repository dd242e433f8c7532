"""The audit trail as the API lists it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from envgrid_cloud.api.models.common import Out, ShanghaiTime


class AuditEntry(Out):
    """Who did what, when, from where (审计日志)."""

    id: int
    at: ShanghaiTime
    actor: str = Field(description="A user id, 'anonymous', or 'cli:<os user>'")
    via: str = Field(description="session, token, cli or none")
    token_id: int | None
    address: str | None
    action: str = Field(description="The request's method and route, or login, token used, …")
    target: str | None
    outcome: str = Field(description="The HTTP status, or ok / refused")
    detail: dict[str, Any]


class AuditLog(Out):
    """Audit entries, newest first."""

    count: int = Field(description="Entries matching the filters (all, not only these)")
    items: list[AuditEntry]
