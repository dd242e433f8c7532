"""The case list's data: the filters, the cases they select, and the order that puts work first.

The first page comes from ``desk_cases.sql``; a change pushed afterwards is judged here by
:func:`matches` and placed by :func:`sort_key`, which follow that statement's filters and order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from envgrid_cloud.api import scope
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.desk.sql import fetch_all, fetch_one

SEVERITY_ORDER = ("critical", "high", "medium", "low")
OPEN_STATES = frozenset(
    {"raised", "dispatched", "acknowledged", "inspecting", "rectifying", "reported"}
)
UNACKNOWLEDGED = frozenset({"raised", "dispatched"})
PAGE = 50  # cases shown at first; "more" adds as many again


@dataclass(frozen=True, slots=True)
class Filters:
    """What the list shows: every filter set must match (empty: any)."""

    states: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    township_id: str | None = None
    village_id: str | None = None
    category: str | None = None
    rule_id: str | None = None
    assignee_id: str | None = None
    open_only: bool = True

    def but(self, **changes: Any) -> Filters:
        """These filters with some changed."""
        return replace(self, **changes)


def _params(filters: Filters) -> dict[str, object]:
    return {
        "states": list(filters.states) or None,
        "severities": list(filters.severities) or None,
        "township_id": filters.township_id,
        "village_id": filters.village_id,
        "category": filters.category,
        "rule_id": filters.rule_id,
        "assignee_id": filters.assignee_id,
        "open_only": filters.open_only,
    }


async def load_cases(
    conn: AsyncConnection[DictRow], principal: Principal, filters: Filters, limit: int = PAGE
) -> tuple[list[DictRow], int]:
    """The first ``limit`` cases the filters select in the user's area, and how many in all."""
    rows = await fetch_all(
        conn,
        "desk_cases",
        case_id=None,
        area=scope.area(principal),
        limit=limit,
        **_params(filters),
    )
    return rows, (int(rows[0]["total"]) if rows else 0)


async def load_case(conn: AsyncConnection[DictRow], case_id: int) -> DictRow | None:
    """One case as the list shows it (the caller has checked the user may see it)."""
    return await fetch_one(
        conn, "desk_cases", case_id=case_id, area=None, limit=1, **_params(Filters())
    )


def is_overdue(row: dict[str, Any], now: datetime) -> bool:
    """Past the time to acknowledge (not yet acknowledged) or to close, and still open."""
    if row["state"] not in OPEN_STATES:
        return False
    ack_due, close_due = row.get("ack_due_at"), row.get("close_due_at")
    if row["state"] in UNACKNOWLEDGED and ack_due is not None and ack_due < now:
        return True
    return close_due is not None and close_due < now


def matches(row: dict[str, Any], filters: Filters) -> bool:
    """Whether a case belongs on a list with these filters (as ``desk_cases.sql`` judges)."""
    wanted: list[tuple[object, object]] = [
        (filters.township_id, row["township_id"]),
        (filters.village_id, row["village_id"]),
        (filters.category, row["category"]),
        (filters.rule_id, row["rule_id"]),
        (filters.assignee_id, row["assignee_id"]),
    ]
    if any(want is not None and want != got for want, got in wanted):
        return False
    if filters.states and row["state"] not in filters.states:
        return False
    if filters.severities and row["severity"] not in filters.severities:
        return False
    return not (filters.open_only and row["state"] not in OPEN_STATES)


def sort_key(row: dict[str, Any], now: datetime | None = None) -> tuple[Any, ...]:
    """Where a case goes in the list: open, overdue, unacknowledged, severe, recent first."""
    moment = now or datetime.now(UTC)
    severity = row["severity"]
    return (
        row["state"] not in OPEN_STATES,
        not is_overdue(row, moment),
        row["state"] not in UNACKNOWLEDGED,
        SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER),
        -row["raised_at"].timestamp(),
        -int(row["id"]),
    )


async def filter_options(
    conn: AsyncConnection[DictRow], principal: Principal
) -> dict[str, dict[str, str]]:
    """Per filter (township, village, rule, assignee): the choices in the area, id → name."""
    options: dict[str, dict[str, str]] = {
        "township": {},
        "village": {},
        "rule": {},
        "assignee": {},
    }
    for row in await fetch_all(conn, "desk_filter_options", area=scope.area(principal)):
        options[row["kind"]][row["id"]] = row["name"]
    return options
