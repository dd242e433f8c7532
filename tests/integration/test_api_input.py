"""Input that once broke the API (issue 9's fuzzer run) is refused cleanly, in FastAPI's shape."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_api_support import api, seed

SITE = {"id": "x1", "name": "新站", "category": "farmland", "cell_id": "luxi"}
NODE = {"id": "n1", "site_id": "farm1"}
RULES = "/api/v1/sites/farm1/rules"
HUGE = "4786367652356129873098440704"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "url", "body", "where"),
    [
        ("POST", "/api/v1/sites", SITE | {"name": "v\u0000"}, ["body", "name"]),
        ("POST", "/api/v1/sites", SITE | {"name": "a\x1bb"}, ["body", "name"]),
        ("POST", "/api/v1/sites", SITE | {"production_process": "\x7f"},
         ["body", "production_process"]),
        # JSON can say 1e400; Python reads it as infinity.
        ("POST", "/api/v1/sites", '{"id": "x1", "name": "n", "category": "farmland", '
         '"cell_id": "luxi", "lon": 1e400, "lat": 0}', ["body", "lon"]),
        ("GET", "/api/v1/sites?cell_id=%3F%00", None, ["query", "cell_id"]),
        ("GET", "/api/v1/sites/a%00b", None, ["path", "site_id"]),
        ("GET", f"/api/v1/cases?offset={HUGE}", None, ["query", "offset"]),
        ("GET", f"/api/v1/cases/1/attachments/2616/{HUGE}", None, ["path", "index"]),
        ("GET", f"/api/v1/cases/{HUGE}", None, ["path", "case_id"]),
        ("POST", "/api/v1/nodes", NODE | {"report_interval_s": 2.2e-309},
         ["body", "report_interval_s"]),
        ("POST", "/api/v1/nodes", NODE | {"report_interval_s": 86_401},
         ["body", "report_interval_s"]),
        ("POST", "/api/v1/cases", '{"site_id": "farm1", "title": "t", "value": NaN}',
         ["body", "value"]),
        ("PUT", RULES, {"no-such-rule": {"limit": 1}}, ["body", "body"]),
        ("PUT", RULES, '{"water-nh3n": {"limit": Infinity}}', ["body"]),
        ("GET", "/api/v1/audit?actor=a%00", None, ["query", "actor"]),
        ("GET", "/api/v1/audit?until=0.5", None, ["query", "until"]),
        ("GET", "/api/v1/dead-letters?since=", None, ["query", "since"]),
    ],
)  # fmt: skip
async def test_bad_input_is_a_422_naming_the_field(
    migrated_url: str, method: str, url: str, body: Any, where: list[str]
) -> None:
    seed(migrated_url)
    raw = {"content": body, "headers": {"Content-Type": "application/json"}}
    async with api(migrated_url) as client:
        response = await client.request(
            method, url, **(raw if isinstance(body, str) else {"json": body})
        )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail[0]["loc"][: len(where)] == where, detail


@pytest.mark.asyncio
async def test_text_is_stored_without_surrounding_blanks(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        made = await client.post("/api/v1/sites", json=SITE | {"name": "  新站 ", "lon": 118.9,
                                                              "lat": 35.6})  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "新站"


@pytest.mark.asyncio
async def test_a_reported_case_names_a_node_of_its_site(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        elsewhere = await client.post(
            "/api/v1/cases", json={"site_id": "farm1", "title": "t", "node_id": "river1-s1"}
        )
        nowhere = await client.post(
            "/api/v1/cases", json={"site_id": "farm1", "title": "t", "node_id": "nowhere"}
        )
    assert elsewhere.status_code == 404, elsewhere.text
    assert nowhere.status_code == 404, nowhere.text


@pytest.mark.asyncio
async def test_405_names_every_method_of_the_path(migrated_url: str) -> None:
    async with api(migrated_url) as client:
        sites = await client.request("PATCH", "/api/v1/sites")
        site = await client.request("OPTIONS", "/api/v1/sites/farm1")
    assert sites.status_code == 405
    assert sites.headers["allow"] == "GET, POST"
    assert site.status_code == 405
    assert site.headers["allow"] == "GET, PUT, DELETE"


@pytest.mark.asyncio
async def test_an_unreadable_body_is_a_documented_400(migrated_url: str) -> None:
    async with api(migrated_url) as client:
        response = await client.post(
            "/api/v1/sites", content=b"\x80", headers={"Content-Type": "application/json"}
        )
        document = (await client.get("/openapi.json")).json()
    assert response.status_code == 400
    assert "400" in document["paths"]["/api/v1/sites"]["post"]["responses"]
