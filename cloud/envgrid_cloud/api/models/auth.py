"""Signing in and out, and who is signed in."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from envgrid_cloud.api.models.common import In, Out, ShanghaiTime
from envgrid_cloud.auth.logins import Login
from envgrid_cloud.auth.passwords import MAX_LENGTH
from envgrid_cloud.cases.model import Role

Password = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH, pattern=r"^[^\x00]*$")]


class LoginRequest(In):
    """A login name and password."""

    login: Login
    password: Password


class PasswordChange(In):
    """Change one's own password (the current one is asked again)."""

    current_password: Password
    new_password: Password = Field(description="At least 8 characters")


class Me(Out):
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


class LoginResult(Out):
    """Signed in: the session cookie is set; writes must send ``csrf_token`` back."""

    user: Me
    csrf_token: str = Field(description="Send it in the X-CSRF-Token header with every write")
    expires_at: ShanghaiTime = Field(description="When the session ends if left unused")
