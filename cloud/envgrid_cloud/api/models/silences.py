"""Silences (静默) as the API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from envgrid_cloud.api.models.common import In, Out, ShanghaiTime, strip_blanks
from envgrid_common.clock import SHANGHAI
from envgrid_common.messages import Identifier

_LINES = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # several lines: tabs and line breaks allowed

Reason = Annotated[
    str,
    Field(min_length=1, max_length=1000, pattern=rf"^[^{_LINES}]*[^\s{_LINES}][^{_LINES}]*$"),
    AfterValidator(strip_blanks),
]


def _shanghai_if_naive(value: datetime) -> datetime:
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value


Instant = Annotated[
    datetime,
    AfterValidator(_shanghai_if_naive),
    Field(description="ISO 8601; without an offset, Asia/Shanghai (北京时间)"),
]


class Silence(Out):
    """A quiet period (静默): notifications of a site or a rule held until it ends."""

    id: int
    site_id: str | None
    rule_id: str | None
    cell_id: str | None = Field(description="A rule's silence applies within this area; null: all")
    reason: str
    starts_at: ShanghaiTime
    until: ShanghaiTime = Field(description="When it ends by itself")
    set_by: str
    created_at: ShanghaiTime
    lifted_at: ShanghaiTime | None
    lifted_by: str | None
    active: bool = Field(description="Neither lifted nor ended")
    held: int = Field(description="Notifications it holds now")


class SilenceCreate(In):
    """Silence a site, or a rule (within an area), until a time, saying why."""

    site_id: Identifier | None = None
    rule_id: Identifier | None = None
    cell_id: Identifier | None = Field(
        default=None,
        description="A rule's silence: the area (default: a reviewer's cell; an admin's: all)",
    )
    until: Instant
    starts_at: Instant | None = Field(default=None, description="Default: now")
    reason: Reason = Field(description="Why: maintenance, known works (检修、施工)…")

    @model_validator(mode="after")
    def _what(self) -> SilenceCreate:
        if self.site_id is None and self.rule_id is None:
            raise ValueError("name a site_id or a rule_id (or both) to silence")
        if self.site_id is not None and self.cell_id is not None:
            raise ValueError("a site's silence has no cell_id: the site says where")
        return self
