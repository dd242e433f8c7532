"""Request and response models of ``/api/v1/auth`` and the audit log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from envgrid_cloud.api.models import ShanghaiTime
from envgrid_cloud.auth.logins import Login
from envgrid_cloud.auth.passwords import MAX_LENGTH
from envgrid_cloud.cases.model import Role

Password = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH, pattern=r"^[^\x00]*$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class LoginRequest(_In):
    """A login name and password."""

    login: Login
    password: Password


class PasswordChange(_In):
    """Change one's own password (the current one is asked again)."""

    current_password: Password
    new_password: Password = Field(description="At least 8 characters")


class Me(_Out):
    """The signed-in user (or the owner of the token)."""

    id: str
    login: str
    name: str
    role: Role = Field(description="grid_officer 网格员 · reviewer 审核员 · admin")
    cell_id: str | None = Field(
        description="Their grid cell: they see it and every cell below it (an admin may have none)"
    )
    locale: Literal["zh-CN", "en"]
    via: Literal["session", "token"]


class LoginResult(_Out):
    """Signed in: the session cookie is set; writes must send ``csrf_token`` back."""

    user: Me
    csrf_token: str = Field(description="Send it in the X-CSRF-Token header with every write")
    expires_at: ShanghaiTime = Field(description="When the session ends if left unused")


class AuditEntry(_Out):
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


class AuditLog(_Out):
    """Audit entries, newest first."""

    count: int = Field(description="Entries matching the filters (all, not only these)")
    items: list[AuditEntry]
