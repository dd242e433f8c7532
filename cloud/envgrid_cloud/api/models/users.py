"""Users (网格员, 审核员, administrators) as the API shows and takes them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from envgrid_cloud.api.models.common import STRICT, In, Out, ShanghaiTime
from envgrid_cloud.auth.logins import Login
from envgrid_common.messages import Identifier
from envgrid_common.registry import (
    Email,
    Name,
    OfficerRole,
    Phone,
)


class User(Out):
    """A person who signs in: a grid officer (网格员), a reviewer (审核员) or an administrator."""

    id: str
    login: str = Field(description="Login name (登录名)")
    name: str
    role: OfficerRole = Field(description="grid_officer 网格员 · reviewer 审核员 · admin")
    cell_id: str | None = Field(
        description="Their grid cell: they see and act within it and below it (admins: optional)"
    )
    phone: str | None
    email: str | None
    active: bool = Field(description="False once deactivated: no sign-in, no token works")
    locale: Literal["zh-CN", "en"] = Field(description="Language of the desk and messages")
    has_password: bool = Field(description="Whether a password is set (else no sign-in)")
    created_at: ShanghaiTime


class UserRemoved(Out):
    """What removing a user did."""

    id: str
    outcome: Literal["deleted", "deactivated"]
    detail: str


class UserUpdate(In):
    """A user's details."""

    login: Login
    name: Name
    role: OfficerRole
    cell_id: Identifier | None = Field(
        default=None, description="The grid cell they look after (required unless admin)"
    )
    phone: Phone | None = None
    email: Email | None = None
    active: Annotated[bool, STRICT] = True
    locale: Literal["zh-CN", "en"] = "zh-CN"

    @model_validator(mode="after")
    def _cell_unless_admin(self) -> UserUpdate:
        if self.cell_id is None and self.role is not OfficerRole.ADMIN:
            raise ValueError("a grid officer or reviewer needs a cell_id")
        return self


class UserCreate(UserUpdate):
    """A new user, with a first password if they are to sign in at once."""

    id: Identifier
    password: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]*$",
        description="At least 8 characters; omit to set it later (envgrid users passwd)",
    )
