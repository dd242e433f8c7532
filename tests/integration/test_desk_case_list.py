"""The desk's case list on a real database: ``desk_cases.sql`` and the rules a pushed change is
judged by (``case_list.matches`` and ``sort_key``) agree, for every filter and every area."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from envgrid_cloud.api.sql import fetch_one
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.cases.model import Action, Role, Severity
from envgrid_cloud.desk.case_list import (
    Filters,
    filter_options,
    load_case,
    load_cases,
    matches,
    sort_key,
)
from tests.integration.test_cases_support import breach, move, raise_case, seed_grid

NOW = datetime.now(UTC).replace(microsecond=0)


def seed(url: str) -> None:
    """Cases of every state and severity, some past their deadlines, across two townships."""
    seed_grid(url)
    made = []
    plan = [
        ("farm1", "cod-limit", Severity.CRITICAL, 50),
        ("farm1", "nh3n-limit", Severity.LOW, 40),
        ("farm2", "cod-limit", Severity.HIGH, 30),
        ("river1", "cod-limit", Severity.MEDIUM, 20),
        ("river4", "ph-limit", Severity.HIGH, 10),
        ("river2", "cod-limit", Severity.CRITICAL, 5),
        ("road2", "pm10-limit", Severity.LOW, 3),
    ]
    for site, rule, severity, minutes_ago in plan:
        at = NOW - timedelta(minutes=minutes_ago)
        made.append(raise_case(url, breach(site, rule, severity=severity, at=at), at).case_id)
    move(url, made[1], Action.ACKNOWLEDGE, "g1-officer", NOW)
    move(url, made[3], Action.ACKNOWLEDGE, "v1-officer", NOW)
    move(url, made[3], Action.INSPECT, "v1-officer", NOW)
    move(url, made[4], Action.DISMISS, "luxi-reviewer", NOW, reason="校准")
    with psycopg.connect(url, autocommit=True) as conn:
        # Past due: one not acknowledged in time, one not closed in time.
        conn.execute(
            "UPDATE cases SET ack_due_at = %s WHERE id = %s", (NOW - timedelta(hours=1), made[0])
        )
        conn.execute(
            "UPDATE cases SET close_due_at = %s WHERE id = %s",
            (NOW - timedelta(hours=1), made[1]),
        )


async def principal(conn: AsyncConnection[Any], user_id: str) -> Principal:
    """A user as a session would sign them in."""
    row = await fetch_one(
        conn,
        "user",
        user_id=user_id,
        area=None,
    )
    assert row is not None
    cells = await (await conn.execute("SELECT cells_within(%s) AS c", (row["cell_id"],))).fetchone()
    role = Role(row["role"])
    return Principal(
        user_id=user_id,
        login=row["login"],
        name=row["name"],
        role=role,
        cell_id=row["cell_id"],
        locale="zh-CN",
        via="session",
        cells=None if role is Role.ADMIN else tuple(cells["c"] if cells else ()),
    )


def filter_sets(options: dict[str, dict[str, str]]) -> list[Filters]:
    """Each filter alone with each of its values, a few combinations, and none at all."""
    sets = [Filters(), Filters(open_only=False)]
    for state in ("dispatched", "acknowledged", "inspecting", "dismissed"):
        sets.append(Filters(states=(state,), open_only=False))
    for severity in ("critical", "high", "low"):
        sets.append(Filters(severities=(severity,)))
    for township in options["township"]:
        sets.append(Filters(township_id=township, open_only=False))
    for village in options["village"]:
        sets.append(Filters(village_id=village))
    for category in ("livestock_farm", "water_body"):
        sets.append(Filters(category=category, open_only=False))
    for rule in options["rule"]:
        sets.append(Filters(rule_id=rule))
    for assignee in options["assignee"]:
        sets.append(Filters(assignee_id=assignee, open_only=False))
    sets.append(Filters(states=("dispatched", "acknowledged"), severities=("critical", "low")))
    return sets


@pytest.mark.asyncio
async def test_the_list_and_the_pushed_changes_agree_on_filters_and_order(
    migrated_url: str,
) -> None:
    seed(migrated_url)
    async with await AsyncConnection.connect(migrated_url, row_factory=dict_row) as conn:
        all_ids = [r["id"] for r in await (await conn.execute("SELECT id FROM cases")).fetchall()]
        checked = 0
        for user_id in ("ju-admin", "luxi-reviewer", "v1-officer", "xd-officer"):
            who = await principal(conn, user_id)
            options = await filter_options(conn, who)
            for filters in filter_sets(options):
                listed, total = await load_cases(conn, who, filters, limit=100)
                seen = []
                for case_id in all_ids:
                    visible = await fetch_one(
                        conn,
                        "scope_case",
                        case_id=case_id,
                        area=None if who.cells is None else list(who.cells),
                    )
                    row = await load_case(conn, case_id)
                    assert row is not None
                    if visible and matches(dict(row), filters):
                        seen.append(dict(row))
                expected = [r["id"] for r in sorted(seen, key=lambda r: sort_key(r, NOW))]
                assert [r["id"] for r in listed] == expected, (user_id, filters)
                assert total == len(expected)
                checked += len(expected)
    assert checked > 50, "the filters selected too little to prove anything"


@pytest.mark.asyncio
async def test_overdue_then_unacknowledged_then_severity_first(migrated_url: str) -> None:
    seed(migrated_url)
    async with await AsyncConnection.connect(migrated_url, row_factory=dict_row) as conn:
        admin = await principal(conn, "ju-admin")
        listed, _ = await load_cases(conn, admin, Filters(open_only=False))
    order = [(r["site_id"], r["rule_id"], r["state"]) for r in listed]
    assert order[0] == ("farm1", "cod-limit", "dispatched")  # critical, past its ack deadline
    assert order[1] == ("farm1", "nh3n-limit", "acknowledged")  # low, past its close deadline
    # Then the unacknowledged by severity (critical river2, high farm2, low road2) …
    assert [o[:2] for o in order[2:5]] == [
        ("river2", "cod-limit"),
        ("farm2", "cod-limit"),
        ("road2", "pm10-limit"),
    ]
    # … the one being worked, and the dismissed one last.
    assert order[5] == ("river1", "cod-limit", "inspecting")
    assert order[-1] == ("river4", "ph-limit", "dismissed")


@pytest.mark.asyncio
async def test_filters_offer_only_the_users_area(migrated_url: str) -> None:
    seed(migrated_url)
    async with await AsyncConnection.connect(migrated_url, row_factory=dict_row) as conn:
        village = await filter_options(conn, await principal(conn, "v1-officer"))
        county = await filter_options(conn, await principal(conn, "ju-admin"))
    assert set(village["village"]) == {"luxi-v1"}
    assert set(village["township"]) == {"luxi"}
    assert "xd-officer" not in village["assignee"]
    assert set(county["township"]) == {"luxi", "xiaodian", "anzhuang"}
    assert {"cod-limit", "pm10-limit"} <= set(county["rule"])
