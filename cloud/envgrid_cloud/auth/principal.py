"""Who is asking: the signed-in user (or the owner of an API token) and their area."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from envgrid_cloud.cases.model import Role

Via = Literal["session", "token"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user; ``cells`` is their area (their cell and all below), None: all."""

    user_id: str
    login: str
    name: str
    role: Role
    cell_id: str | None
    locale: str
    via: Via
    cells: tuple[str, ...] | None
    token_id: int | None = None
    csrf_token: str | None = None

    @property
    def is_admin(self) -> bool:
        """An administrator sees and manages everything."""
        return self.role is Role.ADMIN

    @classmethod
    def from_row(cls, row: dict[str, Any], via: Via) -> Principal:
        """From a row of auth_session.sql or auth_token.sql."""
        role = Role(row["role"])
        return cls(
            user_id=row["id"],
            login=row["login"],
            name=row["name"],
            role=role,
            cell_id=row["cell_id"],
            locale=row["locale"],
            via=via,
            cells=None if role is Role.ADMIN else tuple(row["cells"] or ()),
            token_id=row["token_id"],
            csrf_token=row["csrf_token"],
        )
