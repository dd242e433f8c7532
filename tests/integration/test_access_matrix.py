"""Who may see and do what, on every endpoint: each kind of caller × each route → its status.

Callers: anonymous; a grid officer of village A (东村, where the farm and its case are); a grid
officer of village B (西村); the township's reviewer; an administrator; a revoked token; a
deactivated user. Out of a caller's area a thing answers 404, exactly as if it did not exist:
village B's officer learns nothing of village A's case through any route.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest

from envgrid_cloud.app import create_app
from envgrid_cloud.auth.accounts import NewUser, add_user, connect, deactivate, issue_token
from envgrid_cloud.cases.model import Action
from envgrid_cloud.registry.store import upsert_registry
from envgrid_cloud.settings import CloudSettings
from envgrid_common.registry import GridCell, GridLevel, Node, Registry, Site, SiteCategory
from tests.integration.test_api_support import insert_readings, running
from tests.integration.test_cases_support import breach, move, raise_case

NOW = datetime.now(UTC).replace(microsecond=0)
WHO = ("anonymous", "officer_a", "officer_b", "reviewer", "admin", "revoked", "deactivated")

REGISTRY = Registry(
    cells=(
        GridCell(id="ju", level=GridLevel.COUNTY, name="莒县"),
        GridCell(id="luxi", level=GridLevel.TOWNSHIP, name="芦溪镇", parent_id="ju"),
        GridCell(id="dongcun", level=GridLevel.VILLAGE, name="东村", parent_id="luxi"),
        GridCell(id="xicun", level=GridLevel.VILLAGE, name="西村", parent_id="luxi"),
    ),
    sites=(
        Site(
            id="farm1", name="东村养猪场", category=SiteCategory.LIVESTOCK_FARM, cell_id="dongcun"
        ),
        Site(id="farm2", name="西村养牛场", category=SiteCategory.LIVESTOCK_FARM, cell_id="xicun"),
    ),
    nodes=(Node(id="farm1-s1", site_id="farm1"), Node(id="farm2-s1", site_id="farm2")),
)


@dataclass
class World:
    """The database and each caller's headers; the case at farm1 and its attachment."""

    db: str
    headers: dict[str, dict[str, str]]
    case_id: int
    attachment: str


def build(db: str) -> World:
    with psycopg.connect(db) as conn:
        upsert_registry(conn, REGISTRY)
    insert_readings(
        psycopg.connect(db, autocommit=True),
        [("farm1-s1", NOW.isoformat(), 1, {"cod": 500.0}, None, False)],
    )
    people = {
        "officer_a": NewUser("a", "a", "东村网格员", "grid_officer", "dongcun"),
        "officer_b": NewUser("b", "b", "西村网格员", "grid_officer", "xicun"),
        "reviewer": NewUser("r", "r", "镇审核员", "reviewer", "luxi"),
        "admin": NewUser("root", "root", "管理员", "admin", None),
        "deactivated": NewUser("gone", "gone", "离职", "grid_officer", "dongcun"),
    }
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    with connect(db) as conn:
        for who, user in people.items():
            add_user(conn, user, None)
            token, _ = issue_token(conn, user.login, "t", None)
            headers[who] = {"Authorization": f"Bearer {token}"}
        revoked, row = issue_token(conn, "a", "to-revoke", None)
        conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s", (row["id"],))
        deactivate(conn, "gone")
    headers["revoked"] = {"Authorization": f"Bearer {revoked}"}
    case_id = raise_case(db, breach(site="farm1", at=NOW), NOW).case_id
    photo = {"name": "p.jpg", "content_type": "image/jpeg",
             "data_base64": base64.b64encode(b"\xff\xd8 jpeg").decode()}  # fmt: skip
    move(db, case_id, Action.ACKNOWLEDGE, "a", NOW, attachments=[photo])
    with psycopg.connect(db) as conn:
        last = conn.execute(
            "SELECT max(id) FROM case_events WHERE case_id = %s", (case_id,)
        ).fetchone()
    assert last is not None
    return World(db, headers, case_id, f"/api/v1/cases/{case_id}/attachments/{last[0]}/0")


SIGNED_IN = {"officer_a": 200, "officer_b": 200, "reviewer": 200, "admin": 200}
NOT_SIGNED_IN = {"anonymous": 401, "revoked": 401, "deactivated": 401}
ONLY_A_SIDE = {"officer_a": 200, "officer_b": 404, "reviewer": 200, "admin": 200}
ADMIN_ONLY = {"officer_a": 403, "officer_b": 403, "reviewer": 403}


def reads(w: World) -> list[tuple[str, str, dict[str, int]]]:
    """(method, path, expected status by caller) for every read."""
    case = f"/api/v1/cases/{w.case_id}"
    return [
        ("GET", "/api/v1/auth/me", SIGNED_IN),
        ("GET", "/api/v1/metrics", SIGNED_IN),
        ("GET", "/api/v1/metrics/cod", SIGNED_IN),
        ("GET", "/api/v1/grid", SIGNED_IN),
        ("GET", "/api/v1/grid/dongcun", ONLY_A_SIDE),
        ("GET", "/api/v1/grid/luxi", SIGNED_IN),  # above both villages: their township
        ("GET", "/api/v1/sites", SIGNED_IN),
        ("GET", "/api/v1/sites?cell_id=dongcun", ONLY_A_SIDE),
        ("GET", "/api/v1/sites/farm1", ONLY_A_SIDE),
        ("GET", "/api/v1/sites/farm1/latest", ONLY_A_SIDE),
        ("GET", "/api/v1/sites/farm1/readings?metric=cod", ONLY_A_SIDE),
        ("GET", "/api/v1/nodes", SIGNED_IN),
        ("GET", "/api/v1/nodes?site_id=farm1", ONLY_A_SIDE),
        ("GET", "/api/v1/nodes/farm1-s1", ONLY_A_SIDE),
        ("GET", "/api/v1/users", SIGNED_IN),
        ("GET", "/api/v1/users/a", ONLY_A_SIDE),
        ("GET", "/api/v1/cases", SIGNED_IN),
        ("GET", "/api/v1/cases?site_id=farm1", ONLY_A_SIDE),
        ("GET", case, ONLY_A_SIDE),
        ("GET", w.attachment, ONLY_A_SIDE),
        ("GET", "/api/v1/dead-letters", SIGNED_IN),
        ("GET", "/api/v1/status", {**ADMIN_ONLY, "admin": 200}),
        ("GET", "/api/v1/audit", {**ADMIN_ONLY, "admin": 200}),
        ("GET", "/api/v1/assessment", SIGNED_IN),
        ("GET", "/api/v1/assessment/weights", SIGNED_IN),
        ("GET", "/api/v1/assessment/luxi", SIGNED_IN),  # each officer: their own village's row
    ]


def writes(w: World, who: str) -> list[tuple[str, str, Any, dict[str, int]]]:
    """(method, path, body, expected status by caller) for every write; each caller writes
    things of its own, so that one caller's success does not change another's answer."""
    cell = f"m-{who}"
    return [
        ("POST", "/api/v1/grid",
         {"id": cell, "level": "village", "name": "新村", "parent_id": "luxi"},
         {**ADMIN_ONLY, "admin": 201}),
        ("PUT", "/api/v1/grid/xicun",
         {"level": "village", "name": "西村", "parent_id": "luxi"}, {**ADMIN_ONLY, "admin": 200}),
        ("POST", "/api/v1/sites",
         {"id": f"s-{who}", "name": "新场", "category": "farmland", "cell_id": "xicun"},
         {**ADMIN_ONLY, "admin": 201}),
        ("PUT", "/api/v1/sites/farm2/rules", {}, {**ADMIN_ONLY, "admin": 200}),
        ("POST", "/api/v1/nodes", {"id": f"n-{who}", "site_id": "farm2"},
         {**ADMIN_ONLY, "admin": 201}),
        ("DELETE", "/api/v1/nodes/farm9-none", None, {**ADMIN_ONLY, "admin": 404}),
        ("POST", "/api/v1/users",
         {"id": f"u-{who}", "login": f"u-{who}", "name": "新人", "role": "grid_officer",
          "cell_id": "xicun"}, {**ADMIN_ONLY, "admin": 201}),
        ("DELETE", "/api/v1/grid/none", None, {**ADMIN_ONLY, "admin": 404}),
        ("PUT", "/api/v1/assessment/weights",
         {"ack_on_time": 40, "close_on_time": 40, "self_found": 20, "overdue": 20,
          "false_alarm": 10}, {**ADMIN_ONLY, "admin": 200}),
        ("POST", "/api/v1/cases", {"site_id": "farm1", "title": f"巡查发现 {who}"},
         {"officer_a": 201, "officer_b": 404, "reviewer": 201, "admin": 201}),
        # A grid officer may not dismiss; B does not see the case; the others may dismiss it
        # (each on a case of its own).
        ("POST", "/api/v1/cases/{own_case}/actions", {"action": "dismiss", "reason": "误报"},
         {"officer_a": 403, "officer_b": 404, "reviewer": 200, "admin": 200}),
    ]  # fmt: skip


async def call(
    client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> int:
    response = await client.request(method, path, json=body, headers=headers)
    return response.status_code


@pytest.mark.asyncio
async def test_every_caller_gets_the_expected_answer_from_every_endpoint(migrated_url: str) -> None:
    w = build(migrated_url)
    wrong: list[str] = []
    app = create_app(CloudSettings(database_url=w.db))
    async with running(app) as client:
        for method, path, expected in reads(w):
            for who in WHO:
                want = {**NOT_SIGNED_IN, **expected}[who]
                got = await call(client, method, path, None, w.headers[who])
                if got != want:
                    wrong.append(f"{who:<11} {method} {path}: {got}, expected {want}")
        for who in WHO:
            own_case = raise_case(w.db, breach(site="farm1", rule=f"r-{who}", at=NOW), NOW).case_id
            for method, path, body, expected in writes(w, who):
                want = {**NOT_SIGNED_IN, **expected}[who]
                target = path.replace("{own_case}", str(own_case))
                got = await call(client, method, target, body, w.headers[who])
                if got != want:
                    wrong.append(f"{who:<11} {method} {target}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.asyncio
async def test_lists_hold_only_what_the_caller_may_see(migrated_url: str) -> None:
    w = build(migrated_url)
    async with running(create_app(CloudSettings(database_url=w.db))) as client:

        async def ids(who: str, path: str, key: str | None = None) -> list[Any]:
            body = (await client.get(path, headers=w.headers[who])).json()
            items = body[key] if key else body
            return sorted(i["id"] for i in items)

        cases = {who: await ids(who, "/api/v1/cases", "items") for who in SIGNED_IN}
        sites = {who: await ids(who, "/api/v1/sites") for who in SIGNED_IN}
        nodes = {who: await ids(who, "/api/v1/nodes") for who in SIGNED_IN}
        cells = {who: await ids(who, "/api/v1/grid") for who in SIGNED_IN}
        users = {who: await ids(who, "/api/v1/users") for who in SIGNED_IN}
    assert cases == {"officer_a": [w.case_id], "officer_b": [], "reviewer": [w.case_id],
                     "admin": [w.case_id]}  # fmt: skip
    assert sites["officer_b"] == ["farm2"]
    assert sites["reviewer"] == sites["admin"] == ["farm1", "farm2"]
    assert nodes["officer_a"] == ["farm1-s1"]
    assert cells["officer_b"] == ["ju", "luxi", "xicun"]  # their village and what is above it
    assert cells["admin"] == ["dongcun", "ju", "luxi", "xicun"]
    assert users["officer_b"] == ["b"]
    assert users["reviewer"] == ["a", "b", "gone", "r"]


def test_the_live_feed_shows_a_case_only_to_those_who_may_see_it(migrated_url: str) -> None:
    """Village B's officer hears nothing of village A's new case; A and the reviewer do."""
    from tests.integration.test_api_app import uvicorn_thread

    w = build(migrated_url)
    heard: dict[str, list[int]] = {}

    async def listen(base: str, who: str, until: asyncio.Event) -> None:
        heard[who] = []
        async with (
            httpx.AsyncClient(base_url=base, headers=w.headers[who], timeout=None) as client,
            client.stream("GET", "/api/v1/cases/live") as stream,
        ):
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    heard[who].append(json.loads(line[6:])["id"])
                if until.is_set():
                    return

    async def scenario(base: str) -> int:
        until = asyncio.Event()
        tasks = [asyncio.create_task(listen(base, who, until)) for who in SIGNED_IN]
        await asyncio.sleep(1.0)  # everyone subscribed
        fresh = raise_case(w.db, breach(site="farm1", rule="live", at=NOW), NOW).case_id
        other = raise_case(w.db, breach(site="farm2", rule="live", at=NOW), NOW).case_id
        await asyncio.sleep(2.0)
        until.set()
        # A keep-alive comment every 15 s would end the wait; cancel instead.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return fresh * 1_000_000 + other

    with uvicorn_thread(w.db) as server:
        both = asyncio.run(scenario(f"http://127.0.0.1:{server.config.port}"))
    fresh, other = divmod(both, 1_000_000)
    assert heard["officer_a"] == [fresh]
    assert heard["officer_b"] == [other]
    assert sorted(heard["reviewer"]) == sorted([fresh, other])
    assert sorted(heard["admin"]) == sorted([fresh, other])
