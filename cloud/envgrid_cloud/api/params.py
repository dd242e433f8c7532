"""Path and query parameters the routers share, bounded in the schema as in what is accepted.

Every string parameter is barred control characters (PostgreSQL text cannot hold NUL) and
has a length; every integer is bounded by what PostgreSQL stores (``bigint``, ``int``) or by
a sane page. What the OpenAPI document allows is what the API accepts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from envgrid_common.messages import ID_PATTERN
from envgrid_common.metrics import METRICS
from envgrid_common.registry import CONTROLS

MAX_BIGINT = 2**63 - 1
MAX_INT = 2**31 - 1
# Paging deeper than this is a runaway client, not a reader.
MAX_OFFSET = 10_000_000
# Free text in a filter (an actor, an action): no control characters.
FILTER_PATTERN = rf"^[^{CONTROLS}]*$"
# An instant as ISO 8601 text (see instants.parse_instant): short, no control characters.
INSTANT_MAX = 64

# An id of a grid cell, site, node, user, gateway: letters, digits, then also _ . - (≤ 64).
Id = Annotated[str, Path(pattern=ID_PATTERN, description="Letters, digits, _ . - (at most 64)")]
# A number the database gave (a case, an event): 1 … 2⁶³−1.
Serial = Annotated[int, Path(ge=1, le=MAX_BIGINT)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items skipped (paging)")]


def id_query(description: str) -> Any:
    """A query parameter naming something by its id."""
    return Query(pattern=ID_PATTERN, description=description)


def text_query(description: str, max_length: int = 200) -> Any:
    """A query parameter of free text (no control characters)."""
    return Query(max_length=max_length, pattern=FILTER_PATTERN, description=description)


def instant_query(description: str) -> Any:
    """A query parameter holding an instant, parsed by ``instants.parse_instant``."""
    return Query(
        max_length=INSTANT_MAX,
        pattern=FILTER_PATTERN,
        description=description,
        json_schema_extra={"format": "date-time"},
    )


def metric_query(description: str) -> Any:
    """A query parameter naming a metric of the catalogue (checked by the router: 422)."""
    return Query(description=description, examples=["cod"], json_schema_extra={"enum": [*METRICS]})
