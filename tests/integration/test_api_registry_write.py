"""Managing the registry through the API on real PostgreSQL: grid, sites, nodes, users."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.test_api_support import api, seed

pytestmark = pytest.mark.asyncio

RIVER = {
    "id": "river2",
    "name": "沭河小店段",
    "category": "water_body",
    "cell_id": "xiaodian",
    "lon": 118.95,
    "lat": 35.62,
    "production_process": None,
    "treatment_requirements": "禁止新设排污口",
    "target_class": "III",
    "water_type": "river",
    "downstream": [],
    "census_ref": "WB-371122-0002",
}


def open_case(database_url: str, *, site: str, node: str | None, assignee: str | None) -> None:
    """A case as the rules would raise it, naming a site, a node and an officer."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO cases (site_id, rule_id, township_id, node_id, severity, title,"
            " first_seen_at, last_seen_at, raised_at, assignee_id)"
            " VALUES (%s, 'water-cod', 'luxi', %s, 'high', 'COD 超标', now(), now(), now(), %s)",
            (site, node, assignee),
        )


def problem(response: httpx.Response) -> str:
    """The message a user reads: a 404/409 detail, or the first 422 message with its field."""
    detail: Any = response.json()["detail"]
    if isinstance(detail, str):
        return detail
    first = detail[0]
    return f"{first['loc'][-1]}: {first['msg']}"


async def test_grid_cells_are_created_renamed_moved_and_deleted(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        created = await client.post(
            "/api/v1/grid",
            json={"id": "luxi-v2", "level": "village", "name": "西村", "parent_id": "luxi"},
        )
        assert created.status_code == 201, created.text
        assert created.json() == {
            "id": "luxi-v2",
            "level": "village",
            "name": "西村",
            "parent_id": "luxi",
        }
        again = await client.post(
            "/api/v1/grid",
            json={"id": "luxi-v2", "level": "village", "name": "西村", "parent_id": "luxi"},
        )
        assert again.status_code == 409
        assert problem(again) == "a grid cell with id 'luxi-v2' already exists"

        moved = await client.put(
            "/api/v1/grid/luxi-v2",
            json={"level": "village", "name": "西岭村", "parent_id": "xiaodian"},
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["parent_id"] == "xiaodian"
        assert (await client.get("/api/v1/grid/luxi-v2")).json()["name"] == "西岭村"

        gone = await client.delete("/api/v1/grid/luxi-v2")
        assert gone.status_code == 204
        assert (await client.get("/api/v1/grid/luxi-v2")).status_code == 404
        assert (await client.delete("/api/v1/grid/luxi-v2")).status_code == 404
        missing = await client.put("/api/v1/grid/nowhere", json={"level": "county", "name": "无"})
        assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"id": "v9", "level": "village", "name": "村", "parent_id": "ju"},
            "parent_id: the parent of a village must be a township; 'ju' is a county",
        ),
        (
            {"id": "v9", "level": "village", "name": "村", "parent_id": "atlantis"},
            "parent_id: no grid cell with id 'atlantis'",
        ),
        (
            {"id": "v9", "level": "village", "name": "村"},
            "body: Value error, a village needs a parent_id (a township)",
        ),
        (
            {"id": "c2", "level": "county", "name": "县", "parent_id": "ju"},
            "body: Value error, a county has no parent cell",
        ),
        ({"id": "bad id!", "level": "county", "name": "县"}, "id: String should match pattern"),
        ({"id": "c2", "level": "planet", "name": "县"}, "level: Input should be"),
        ({"id": "c2", "level": "county", "name": "县", "colour": "red"}, "colour: Extra inputs"),
    ],
)
async def test_a_cell_that_does_not_fit_the_grid_is_refused_with_the_reason(
    migrated_url: str, body: dict[str, str], message: str
) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        response = await client.post("/api/v1/grid", json=body)
    assert response.status_code == 422, response.text
    assert problem(response).startswith(message)


async def test_a_cell_still_in_use_is_not_deleted_nor_demoted(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        await client.post(
            "/api/v1/users",
            json={
                "id": "o1",
                "login": "o1",
                "name": "张三",
                "role": "grid_officer",
                "cell_id": "luxi",
            },
        )
        held = await client.delete("/api/v1/grid/luxi")
        demoted = await client.put(
            "/api/v1/grid/luxi-v1", json={"level": "township", "name": "东村", "parent_id": "ju"}
        )
        with_site = await client.delete("/api/v1/grid/xiaodian")
    assert held.status_code == 409
    assert problem(held) == (
        "grid cell 'luxi' still has 1 child cell, 1 site, 1 user; move or delete them first"
    )
    assert demoted.status_code == 409
    assert "has 1 child cell" in problem(demoted)
    assert with_site.status_code == 409
    assert "1 site" in problem(with_site)


async def test_a_site_is_created_with_its_details_and_read_back(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        created = await client.post("/api/v1/sites", json=RIVER)
        assert created.status_code == 201, created.text
        with_id = await client.put("/api/v1/sites/river1", json=RIVER)
        assert with_id.status_code == 422  # the id is in the path; a PUT does not change it
        body = {k: v for k, v in RIVER.items() if k != "id"} | {
            "name": "沭河芦溪段",
            "cell_id": "luxi",
            "census_ref": None,
            "downstream": ["river2"],
            "lon": None,
            "lat": None,
        }
        linked = await client.put("/api/v1/sites/river1", json=body)
        assert linked.status_code == 200, linked.text
        river2 = (await client.get("/api/v1/sites/river2")).json()
        listed = (await client.get("/api/v1/sites", params={"category": "water_body"})).json()
    site = created.json()
    assert {k: site[k] for k in RIVER} == RIVER
    assert site["rule_overrides"] == {}
    assert site["nodes"] == []
    assert linked.json()["downstream"] == ["river2"]
    assert linked.json()["target_class"] == "III"
    assert river2["upstream"] == ["river1"]
    assert [(s["id"], s["downstream"]) for s in listed] == [
        ("river1", ["river2"]),
        ("river2", []),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"id": "farm1"}, 409, "a site with id 'farm1' already exists"),
        ({"cell_id": "atlantis"}, 422, "cell_id: no grid cell with id 'atlantis'"),
        ({"downstream": ["nowhere"]}, 422, "downstream: no site with id 'nowhere'"),
        ({"downstream": ["river2"]}, 422, "downstream: a site cannot be downstream of itself"),
        ({"downstream": ["river1", "river1"]}, 422, "body: Value error, a downstream site"),
        (
            {"category": "livestock_farm"},
            422,
            "body: Value error, only a water body has a target water class or a water type",
        ),
        ({"target_class": "VI"}, 422, "target_class: Input should be"),
        ({"lon": 200}, 422, "lon: Input should be less than or equal to 180"),
        ({"lat": None}, 422, "body: Value error, give both lon and lat, or neither"),
        ({"name": "  "}, 422, "name: Value error, the text is blank"),
    ],
)
async def test_a_site_that_does_not_fit_is_refused_with_the_reason(
    migrated_url: str, change: dict[str, object], status: int, message: str
) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        response = await client.post("/api/v1/sites", json=RIVER | change)
        listed = (await client.get("/api/v1/sites")).json()
    assert response.status_code == status, response.text
    assert problem(response).startswith(message)
    assert [s["id"] for s in listed] == ["farm1", "river1", "road2"]


async def test_census_ids_stay_unique_and_water_never_flows_in_a_circle(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        await client.post("/api/v1/sites", json=RIVER | {"downstream": ["river1"]})
        taken = await client.post("/api/v1/sites", json=RIVER | {"id": "river3", "downstream": []})
        river1 = (await client.get("/api/v1/sites/river1")).json()
        body = {k: river1[k] for k in RIVER if k != "id"} | {"downstream": ["river2"]}
        circle = await client.put("/api/v1/sites/river1", json=body)
        unchanged = (await client.get("/api/v1/sites/river1")).json()
    assert taken.status_code == 409
    assert problem(taken) == "census id 'WB-371122-0002' already belongs to site 'river2'"
    assert circle.status_code == 409
    assert problem(circle) == "water would flow in a circle: river1 → river2 → river1"
    assert unchanged["downstream"] == []
    assert unchanged["upstream"] == ["river2"]


async def test_rule_overrides_are_checked_against_the_sites_pack(migrated_url: str) -> None:
    seed(migrated_url)
    overrides = {"nh3n": {"above": 1.5}, "offline": {"enabled": False}}
    async with api(migrated_url) as client:
        stored = await client.put("/api/v1/sites/river1/rules", json=overrides)
        site = (await client.get("/api/v1/sites/river1")).json()
        not_objects = await client.put("/api/v1/sites/river1/rules", json={"nh3n": 1.5})
        a_list = await client.put("/api/v1/sites/river1/rules", json=[{"above": 1}])
        no_rule = await client.put("/api/v1/sites/river1/rules", json={"nope": {"above": 1}})
        bad_field = await client.put("/api/v1/sites/river1/rules", json={"nh3n": {"limit": 1}})
        unknown = await client.put("/api/v1/sites/nowhere/rules", json={})
        cleared = await client.put("/api/v1/sites/river1/rules", json={})
    assert stored.status_code == 200, stored.text
    assert stored.json() == {"site_id": "river1", "rule_overrides": overrides}
    assert site["rule_overrides"] == overrides
    assert not_objects.status_code == 422
    assert problem(not_objects) == "nh3n: Input should be a valid dictionary"
    assert a_list.status_code == 422
    assert no_rule.status_code == 422
    assert "nope" in problem(no_rule)
    assert bad_field.status_code == 422
    assert "limit" in problem(bad_field)
    assert unknown.status_code == 404
    assert cleared.json()["rule_overrides"] == {}


async def test_a_site_goes_only_once_no_node_watches_it(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        await client.post("/api/v1/sites", json=RIVER | {"downstream": ["river1"]})
        watched = await client.delete("/api/v1/sites/river1")
        assert watched.status_code == 409
        assert problem(watched) == (
            "site 'river1' is watched by 1 node (river1-s1);"
            " delete them or move them to another site first"
        )
        assert (await client.delete("/api/v1/nodes/river1-s1")).status_code == 204
        assert (await client.delete("/api/v1/sites/river1")).status_code == 204
        assert (await client.get("/api/v1/sites/river2")).json()["downstream"] == []
        assert (await client.delete("/api/v1/sites/river1")).status_code == 404
        open_case(migrated_url, site="river2", node=None, assignee=None)
        with_case = await client.delete("/api/v1/sites/river2")
    assert with_case.status_code == 409
    assert "named by 1 case" in problem(with_case)


async def test_nodes_are_registered_moved_and_deleted(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        created = await client.post(
            "/api/v1/nodes", json={"id": "road2-cam", "site_id": "road2", "kind": "camera"}
        )
        duplicate = await client.post("/api/v1/nodes", json={"id": "road2-cam", "site_id": "road2"})
        unknown_site = await client.post("/api/v1/nodes", json={"id": "n9", "site_id": "nowhere"})
        zero = await client.post(
            "/api/v1/nodes", json={"id": "n9", "site_id": "road2", "report_interval_s": 0}
        )
        moved = await client.put(
            "/api/v1/nodes/road2-cam",
            json={"site_id": "farm1", "kind": "camera", "report_interval_s": 10},
        )
        missing = await client.put("/api/v1/nodes/ghost", json={"site_id": "farm1"})
        open_case(migrated_url, site="farm1", node="farm1-s1", assignee=None)
        with_case = await client.delete("/api/v1/nodes/farm1-s1")
        deleted = await client.delete("/api/v1/nodes/road2-cam")
        after = await client.get("/api/v1/nodes/road2-cam")
    assert created.status_code == 201, created.text
    assert created.json()["kind"] == "camera"
    assert created.json()["status"] == "unknown"
    assert created.json()["report_interval_s"] == 60
    assert duplicate.status_code == 409
    assert problem(duplicate) == "a node with id 'road2-cam' already exists"
    assert unknown_site.status_code == 422
    assert problem(unknown_site) == "site_id: no site with id 'nowhere'"
    assert zero.status_code == 422
    assert moved.json()["site_id"] == "farm1"
    assert moved.json()["report_interval_s"] == 10
    assert missing.status_code == 404
    assert with_case.status_code == 409
    assert problem(with_case) == (
        "node 'farm1-s1' is named by 1 case, whose files are kept; it cannot be deleted"
    )
    assert deleted.status_code == 204
    assert after.status_code == 404


OFFICERS = [
    {"id": "o-county", "login": "o-county", "name": "赵县长", "role": "reviewer", "cell_id": "ju"},
    {"id": "o-luxi", "login": "o-luxi", "name": "王芳", "role": "reviewer", "cell_id": "luxi",
     "phone": "13800000001"},
    {"id": "o-v1", "login": "o-v1", "name": "李强", "role": "grid_officer", "cell_id": "luxi-v1",
     "email": "liqiang@example.cn"},
    {"id": "o-g1", "login": "o-g1", "name": "陈敏", "role": "grid_officer",
     "cell_id": "luxi-v1-g1"},
    {"id": "o-xd", "login": "o-xd", "name": "孙磊", "role": "grid_officer", "cell_id": "xiaodian"},
]  # fmt: skip


async def test_users_are_listed_by_area_and_role(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        for officer in OFFICERS:
            response = await client.post("/api/v1/users", json=officer)
            assert response.status_code == 201, response.text

        async def ids(**params: str) -> list[str]:
            response = await client.get("/api/v1/users", params=params)
            assert response.status_code == 200, response.text
            return [o["id"] for o in response.json()]

        assert await ids() == ["o-county", "o-g1", "o-luxi", "o-v1", "o-xd", "t-admin"]
        assert await ids(cell_id="luxi") == ["o-g1", "o-luxi", "o-v1"]
        assert await ids(cell_id="luxi-v1") == ["o-g1", "o-v1"]
        assert await ids(cell_id="luxi", role="grid_officer") == ["o-g1", "o-v1"]
        assert await ids(role="reviewer") == ["o-county", "o-luxi"]
        one = (await client.get("/api/v1/users/o-v1")).json()
        unknown_cell = await client.get("/api/v1/users", params={"cell_id": "atlantis"})
        bad_role = await client.get("/api/v1/users", params={"role": "mayor"})
        missing = await client.get("/api/v1/users/ghost")
    assert {k: v for k, v in one.items() if k != "created_at"} == {
        "id": "o-v1",
        "login": "o-v1",
        "name": "李强",
        "role": "grid_officer",
        "cell_id": "luxi-v1",
        "phone": None,
        "email": "liqiang@example.cn",
        "active": True,
        "locale": "zh-CN",
        "has_password": False,
    }
    assert one["created_at"].endswith("+08:00")
    assert unknown_cell.status_code == 404
    assert bad_role.status_code == 422
    assert missing.status_code == 404
    assert problem(missing) == "no user with id 'ghost'"


async def test_users_are_changed_and_removed_unless_cases_name_them(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        for officer in OFFICERS[:3]:
            await client.post("/api/v1/users", json=officer)
        duplicate = await client.post("/api/v1/users", json=OFFICERS[0])
        bad_cell = await client.post("/api/v1/users", json=OFFICERS[4] | {"cell_id": "x"})
        bad_phone = await client.post("/api/v1/users", json=OFFICERS[4] | {"phone": "call me"})
        bad_email = await client.post("/api/v1/users", json=OFFICERS[4] | {"email": "no-at"})
        # A PUT replaces every field: the two below send these and one more each.
        reviewer = {"login": "o-v1", "name": "李强", "role": "reviewer", "cell_id": "luxi"}
        changed = await client.put("/api/v1/users/o-v1", json=reviewer | {"phone": "0799-1234567"})
        open_case(migrated_url, site="farm1", node=None, assignee="o-v1")
        kept = await client.delete("/api/v1/users/o-v1")
        deleted = await client.delete("/api/v1/users/o-luxi")
        active = await client.get("/api/v1/users", params={"active": "true"})
        everyone = await client.get("/api/v1/users")
        back = await client.put("/api/v1/users/o-v1", json=reviewer | {"active": True})
        missing = await client.delete("/api/v1/users/o-luxi")
    assert duplicate.status_code == 409
    assert problem(duplicate) == "a user with id 'o-county' or login 'o-county' already exists"
    assert bad_cell.status_code == 422
    assert problem(bad_cell) == "cell_id: no grid cell with id 'x'"
    assert bad_phone.status_code == 422
    assert bad_email.status_code == 422
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "reviewer"
    assert changed.json()["phone"] == "0799-1234567"
    assert changed.json()["email"] is None
    assert kept.json() == {
        "id": "o-v1",
        "outcome": "deactivated",
        "detail": "cases name this user, so they were deactivated and kept",
    }
    assert deleted.json() == {"id": "o-luxi", "outcome": "deleted", "detail": "deleted"}
    assert [o["id"] for o in active.json()] == ["o-county", "t-admin"]
    assert [(o["id"], o["active"]) for o in everyone.json()] == [
        ("o-county", True),
        ("o-v1", False),
        ("t-admin", True),
    ]
    assert back.json()["active"] is True
    assert missing.status_code == 404


async def test_the_openapi_document_lists_the_write_endpoints(migrated_url: str) -> None:
    async with api(migrated_url) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/api/v1/grid/{cell_id}"]) == {"get", "put", "delete"}
    assert set(paths["/api/v1/sites"]) == {"get", "post"}
    assert set(paths["/api/v1/sites/{site_id}"]) == {"get", "put", "delete"}
    assert set(paths["/api/v1/sites/{site_id}/rules"]) == {"put"}
    assert set(paths["/api/v1/nodes/{node_id}"]) == {"get", "put", "delete"}
    assert set(paths["/api/v1/users"]) == {"get", "post"}
    assert set(paths["/api/v1/users/{user_id}"]) == {"get", "put", "delete"}
