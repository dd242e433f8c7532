"""The API over the registry on real PostgreSQL: metrics, grid, sites, nodes, 404s."""

from __future__ import annotations

import psycopg
import pytest

from envgrid_common.metrics import METRICS
from tests.integration.test_api_support import api, seed


@pytest.mark.asyncio
async def test_metric_catalogue_lists_every_metric_with_units_labels_and_codes(
    migrated_url: str,
) -> None:
    async with api(migrated_url) as client:
        listed = (await client.get("/api/v1/metrics")).json()
        one = await client.get("/api/v1/metrics/cod")
        missing = await client.get("/api/v1/metrics/unobtainium")
    assert [m["name"] for m in listed] == list(METRICS)
    assert one.json() == {
        "name": "cod",
        "unit": "mg/L",
        "medium": "water",
        "label_zh": "化学需氧量",
        "label_en": "COD",
        "hj212_2017": "w01018",
        "hj212_2005": "011",
    }
    assert missing.status_code == 404
    assert "unobtainium" in missing.json()["detail"]


@pytest.mark.asyncio
async def test_grid_lists_cells_top_down_and_filters_by_level(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        cells = (await client.get("/api/v1/grid")).json()
        townships = (await client.get("/api/v1/grid", params={"level": "township"})).json()
        one = (await client.get("/api/v1/grid/luxi-v1")).json()
        bad_level = await client.get("/api/v1/grid", params={"level": "planet"})
        missing = await client.get("/api/v1/grid/atlantis")
    assert [c["id"] for c in cells] == ["ju", "luxi", "xiaodian", "luxi-v1", "luxi-v1-g1"]
    assert [c["id"] for c in townships] == ["luxi", "xiaodian"]
    assert one == {"id": "luxi-v1", "level": "village", "name": "东村", "parent_id": "luxi"}
    assert bad_level.status_code == 422
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no grid cell with id 'atlantis'"}


@pytest.mark.asyncio
async def test_sites_filter_by_category_and_by_cell_with_every_cell_below_it(
    migrated_url: str,
) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:

        async def ids(**params: str) -> list[str]:
            response = await client.get("/api/v1/sites", params=params)
            assert response.status_code == 200, response.text
            return [s["id"] for s in response.json()]

        assert await ids() == ["farm1", "river1", "road2"]
        assert await ids(category="water_body") == ["river1"]
        assert await ids(cell_id="ju") == ["farm1", "river1", "road2"]
        # The farm sits in a villager group two levels below the township.
        assert await ids(cell_id="luxi") == ["farm1", "river1"]
        assert await ids(cell_id="luxi-v1") == ["farm1"]
        assert await ids(cell_id="luxi-v1-g1") == ["farm1"]
        assert await ids(cell_id="xiaodian") == ["road2"]
        assert await ids(cell_id="luxi", category="road_section") == []
        unknown_cell = await client.get("/api/v1/sites", params={"cell_id": "atlantis"})
        bad_category = await client.get("/api/v1/sites", params={"category": "zoo"})
    assert unknown_cell.status_code == 404
    assert "atlantis" in unknown_cell.json()["detail"]
    assert bad_category.status_code == 422


@pytest.mark.asyncio
async def test_a_site_comes_with_its_nodes_and_shanghai_times(migrated_url: str) -> None:
    seed(migrated_url)
    with psycopg.connect(migrated_url) as conn:
        conn.execute(
            "UPDATE sites SET created_at = '2026-04-30T16:30:00Z' WHERE id = 'farm1';"
            "UPDATE nodes SET status = 'online', status_at = '2026-05-01T00:00:00Z'"
            " WHERE id = 'farm1-s1'"
        )
    async with api(migrated_url) as client:
        site = (await client.get("/api/v1/sites/farm1")).json()
        missing = await client.get("/api/v1/sites/nowhere")
    assert {k: v for k, v in site.items() if k != "nodes"} == {
        "id": "farm1",
        "name": "东村养猪场",
        "category": "livestock_farm",
        "cell_id": "luxi-v1-g1",
        "lon": 118.9,
        "lat": 35.6,
        "production_process": None,
        "treatment_requirements": None,
        "target_class": None,
        "water_type": None,
        "downstream": [],
        "upstream": [],
        "census_ref": None,
        "rule_overrides": {},
        "created_at": "2026-05-01T00:30:00+08:00",
    }
    assert [n["id"] for n in site["nodes"]] == ["farm1-cam", "farm1-s1", "farm1-s2"]
    s1 = site["nodes"][1]
    assert s1["status"] == "online"
    assert s1["status_at"] == "2026-05-01T08:00:00+08:00"
    assert s1["report_interval_s"] == 300
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no site with id 'nowhere'"}


@pytest.mark.asyncio
async def test_nodes_list_filter_and_detail(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        every = (await client.get("/api/v1/nodes")).json()
        river = (await client.get("/api/v1/nodes", params={"site_id": "river1"})).json()
        node = (await client.get("/api/v1/nodes/farm1-s2")).json()
        camera = (await client.get("/api/v1/nodes/farm1-cam")).json()
        unknown_site = await client.get("/api/v1/nodes", params={"site_id": "nowhere"})
        missing = await client.get("/api/v1/nodes/ghost")
    assert [n["id"] for n in every] == [
        "farm1-cam",
        "farm1-s1",
        "farm1-s2",
        "river1-s1",
        "road2-s1",
    ]
    assert [n["id"] for n in river] == ["river1-s1"]
    assert node["site_id"] == "farm1"
    assert node["kind"] == "sensor"
    assert node["status"] == "unknown"
    assert node["status_at"] is None
    assert node["created_at"].endswith("+08:00")
    # The newest of its latest values: nh3n at 00:12 Shanghai.
    assert node["last_reading_at"] == "2026-05-02T00:12:00+08:00"
    assert camera["kind"] == "camera"
    assert camera["last_reading_at"] is None
    assert unknown_site.status_code == 404
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no node with id 'ghost'"}
