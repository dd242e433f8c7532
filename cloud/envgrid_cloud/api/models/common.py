"""What the API's models share: bases for requests and responses, times on Shanghai's clock."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from envgrid_common.clock import to_shanghai

# Stored in UTC, shown on Shanghai's clock: every time in a response carries +08:00.
ShanghaiTime = Annotated[
    datetime,
    AfterValidator(to_shanghai),
    Field(description="ISO 8601 with the Asia/Shanghai offset (+08:00)"),
]


class Out(BaseModel):
    """A response body: read-only once made."""

    model_config = ConfigDict(frozen=True)


# A number is a JSON number and a flag a JSON boolean: not true for 1.0, nor "60" for 60.
STRICT = Field(strict=True)


class In(BaseModel):
    """A request body: only the fields it declares, read-only once checked."""

    # A misspelt field is an error, not silently ignored. Text fields (Name, LongText, …) bar
    # control characters and drop surrounding blanks themselves (envgrid_common.registry).
    model_config = ConfigDict(extra="forbid", frozen=True)


def strip_blanks(text: str) -> str:
    """``text`` without surrounding blanks (a validator for names and reasons)."""
    return text.strip()
