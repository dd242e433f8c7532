"""Readings through the API on real PostgreSQL: latest, raw, per interval, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.test_api_support import api, insert_readings, seed

FARM = "/api/v1/sites/farm1/readings"


async def series(
    client: httpx.AsyncClient, path: str = FARM, **params: str | int
) -> dict[str, Any]:
    """The JSON of a successful readings request."""
    response = await client.get(path, params={"metric": "cod", **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.asyncio
async def test_latest_has_every_metric_once_from_the_newest_node(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        latest = (await client.get("/api/v1/sites/farm1/latest")).json()
        empty = (await client.get("/api/v1/sites/road2/latest")).json()
        missing = await client.get("/api/v1/sites/nowhere/latest")
    assert latest == {
        "site_id": "farm1",
        "values": [
            {
                "metric": "cod",
                "value": 70.0,
                "unit": "mg/L",
                "label_zh": "化学需氧量",
                "label_en": "COD",
                "flag": "N",
                "ts": "2026-05-02T00:15:00+08:00",
                "seq": 5,
                "node_id": "farm1-s1",
            },
            {
                "metric": "nh3n",
                "value": 1.5,
                "unit": "mg/L",
                "label_zh": "氨氮",
                "label_en": "ammonia nitrogen",
                "flag": None,
                "ts": "2026-05-02T00:12:00+08:00",
                "seq": 3,
                "node_id": "farm1-s2",
            },
        ],
    }
    assert empty == {"site_id": "road2", "values": []}
    assert missing.status_code == 404


@pytest.mark.asyncio
async def test_raw_points_in_a_half_open_window_ordered_by_time(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        body = await series(
            client, start="2026-05-01T23:50:00+08:00", end="2026-05-02T00:15:00+08:00"
        )
    assert body["kind"] == "raw"
    assert body["unit"] == "mg/L"
    assert body["start"] == "2026-05-01T23:50:00+08:00"
    assert body["end"] == "2026-05-02T00:15:00+08:00"
    assert body["truncated"] is False
    assert body["limit"] == 10_000
    assert body["points"] == [
        {"ts": "2026-05-01T23:50:00+08:00", "node_id": "farm1-s1", "seq": 1, "value": 10.0,
         "flag": "N", "historical": False},
        {"ts": "2026-05-01T23:55:00+08:00", "node_id": "farm1-s1", "seq": 2, "value": 20.0,
         "flag": None, "historical": False},
        {"ts": "2026-05-01T23:58:00+08:00", "node_id": "farm1-s2", "seq": 1, "value": 30.0,
         "flag": "D", "historical": False},
        {"ts": "2026-05-02T00:00:00+08:00", "node_id": "farm1-s1", "seq": 3, "value": 40.0,
         "flag": None, "historical": False},
        {"ts": "2026-05-02T00:10:00+08:00", "node_id": "farm1-s2", "seq": 2, "value": 50.0,
         "flag": "T", "historical": True},
        {"ts": "2026-05-02T00:14:59.999000+08:00", "node_id": "farm1-s1", "seq": 4,
         "value": 60.0, "flag": None, "historical": False},
    ]  # fmt: skip


@pytest.mark.asyncio
async def test_raw_points_of_one_node(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        body = await series(
            client,
            start="2026-05-01T00:00:00+08:00",
            end="2026-05-03T00:00:00+08:00",
            node_id="farm1-s2",
        )
        other_site = await client.get(
            FARM, params={"metric": "cod", "node_id": "river1-s1", "start": "2026-05-01"}
        )
        ghost = await client.get(FARM, params={"metric": "cod", "node_id": "ghost"})
    assert body["node_id"] == "farm1-s2"
    assert [(p["node_id"], p["value"]) for p in body["points"]] == [
        ("farm1-s2", 30.0),
        ("farm1-s2", 50.0),
    ]
    assert other_site.status_code == 404
    assert "river1-s1" in other_site.json()["detail"]
    assert ghost.status_code == 404


@pytest.mark.asyncio
async def test_daily_buckets_start_at_shanghai_midnight_with_hand_computed_stats(
    migrated_url: str,
) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        body = await series(
            client, start="2026-05-01T00:00:00+08:00", end="2026-05-03T00:00:00+08:00", bucket="1d"
        )
    assert body["kind"] == "buckets"
    assert body["bucket"] == "P1D"
    assert body["bucket_seconds"] == 86400
    # 1 May: 5 (01:00, which is 30 April in UTC), 10, 20 valid; 30 flagged D is left out.
    # 2 May: 40 at exactly 00:00, 50 (T counts as a measurement), 60 and 70.
    assert body["buckets"] == [
        {"start": "2026-05-01T00:00:00+08:00", "end": "2026-05-02T00:00:00+08:00",
         "avg": pytest.approx(35 / 3), "min": 5.0, "max": 20.0, "count": 3, "invalid": 1},
        {"start": "2026-05-02T00:00:00+08:00", "end": "2026-05-03T00:00:00+08:00",
         "avg": 55.0, "min": 40.0, "max": 70.0, "count": 4, "invalid": 0},
    ]  # fmt: skip


@pytest.mark.asyncio
async def test_quarter_hour_buckets_around_midnight(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        short = await series(
            client, start="2026-05-01T23:45:00+08:00", end="2026-05-02T00:30:00+08:00", bucket="15m"
        )
        iso = await series(
            client,
            start="2026-05-01T23:45:00+08:00",
            end="2026-05-02T00:30:00+08:00",
            bucket="PT15M",
        )
    assert short["bucket"] == "PT15M"
    assert short["buckets"] == [
        {"start": "2026-05-01T23:45:00+08:00", "end": "2026-05-02T00:00:00+08:00",
         "avg": 15.0, "min": 10.0, "max": 20.0, "count": 2, "invalid": 1},
        {"start": "2026-05-02T00:00:00+08:00", "end": "2026-05-02T00:15:00+08:00",
         "avg": 50.0, "min": 40.0, "max": 60.0, "count": 3, "invalid": 0},
        {"start": "2026-05-02T00:15:00+08:00", "end": "2026-05-02T00:30:00+08:00",
         "avg": 70.0, "min": 70.0, "max": 70.0, "count": 1, "invalid": 0},
    ]  # fmt: skip
    assert iso["buckets"] == short["buckets"]


@pytest.mark.asyncio
async def test_a_bucket_of_only_invalid_values_has_no_statistics(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        body = await series(
            client,
            start="2026-05-01T23:58:00+08:00",
            end="2026-05-01T23:59:00+08:00",
            bucket="1m",
        )
    assert body["buckets"] == [
        {"start": "2026-05-01T23:58:00+08:00", "end": "2026-05-01T23:59:00+08:00",
         "avg": None, "min": None, "max": None, "count": 0, "invalid": 1},
    ]  # fmt: skip


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-05-01T23:50:00+08:00", "2026-05-02T00:00:00+08:00"),
        ("2026-05-01T15:50:00Z", "2026-05-01T16:00:00Z"),
        ("2026-05-01T15:50:00+00:00", "2026-05-01T16:00:00+00:00"),
        # Naive times are Shanghai's, not UTC.
        ("2026-05-01T23:50:00", "2026-05-02T00:00:00"),
        ("2026-05-01 23:50", "2026-05-02"),
        # What a server receives when "+" was not percent-encoded.
        ("2026-05-01T23:50:00 08:00", "2026-05-02T00:00:00 08:00"),
    ],
)
async def test_the_same_window_in_any_offset_gives_the_same_shanghai_answer(
    migrated_url: str, start: str, end: str
) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        body = await series(client, start=start, end=end)
    assert body["start"] == "2026-05-01T23:50:00+08:00"
    assert body["end"] == "2026-05-02T00:00:00+08:00"
    assert [p["value"] for p in body["points"]] == [10.0, 20.0, 30.0]


@pytest.mark.asyncio
async def test_an_unencoded_plus_in_the_raw_query_string_is_understood(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        response = await client.get(
            f"{FARM}?metric=cod&start=2026-05-01T23:50:00+08:00&end=2026-05-02T00:00:00+08:00"
        )
    assert response.status_code == 200, response.text
    assert [p["value"] for p in response.json()["points"]] == [10.0, 20.0, 30.0]


@pytest.mark.asyncio
async def test_default_window_is_the_last_24_hours(migrated_url: str) -> None:
    seed(migrated_url)
    now = datetime.now(UTC)
    ages = [timedelta(hours=25), timedelta(hours=23), timedelta(minutes=1)]
    with psycopg.connect(migrated_url) as conn:
        insert_readings(
            conn,
            [
                ("farm1-s1", (now - age).isoformat(), 100 + i, {"cod": i + 1.0}, None, False)
                for i, age in enumerate(ages)
            ],
        )
    async with api(migrated_url) as client:
        body = await series(client)
        until = await series(client, end=(now - timedelta(hours=22)).isoformat())
    assert [p["value"] for p in body["points"]] == [2.0, 3.0]
    start = datetime.fromisoformat(str(body["start"]))
    end = datetime.fromisoformat(str(body["end"]))
    assert end - start == timedelta(hours=24)
    assert abs(end - now) < timedelta(minutes=1)
    assert str(body["end"]).endswith("+08:00")
    # With only an end, the window is the 24 hours before it.
    assert [p["value"] for p in until["points"]] == [1.0, 2.0]


@pytest.mark.asyncio
async def test_raw_points_and_buckets_are_capped_and_say_so(migrated_url: str) -> None:
    seed(migrated_url)
    window = {"start": "2026-05-01T00:00:00+08:00", "end": "2026-05-03T00:00:00+08:00"}
    async with api(migrated_url) as client:
        capped = await series(client, **window, limit=2)
        exact = await series(client, **window, limit=8)
        buckets = await series(client, **window, bucket="1d", limit=1)
    assert capped["truncated"] is True
    assert capped["limit"] == 2
    assert [p["value"] for p in capped["points"]] == [5.0, 10.0]
    assert len(exact["points"]) == 8
    assert exact["truncated"] is False
    assert buckets["truncated"] is True
    assert [b["start"] for b in buckets["buckets"]] == ["2026-05-01T00:00:00+08:00"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("params", "where", "says"),
    [
        ({"metric": "unobtainium"}, "metric", "/api/v1/metrics"),
        ({"bucket": "15 parsecs"}, "bucket", "PT15M"),
        ({"bucket": "P1M"}, "bucket", "months"),
        ({"bucket": "0m"}, "bucket", "1 second"),
        ({"bucket": "PT"}, "bucket", "not an interval"),
        ({"start": "yesterday"}, "start", "ISO 8601"),
        ({"end": "2026-02-30T00:00:00"}, "end", "ISO 8601"),
        ({"limit": "0"}, "limit", "greater than or equal to 1"),
        ({"limit": "100001"}, "limit", "less than or equal to 100000"),
    ],
)  # fmt: skip
async def test_nonsense_parameters_get_422_naming_the_parameter(
    migrated_url: str, params: dict[str, str], where: str, says: str
) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        response = await client.get(FARM, params={"metric": "cod", **params})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", where]
    assert says in error["msg"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-05-02T00:00:00+08:00", "2026-05-01T00:00:00+08:00"),
     ("2026-05-01T00:00:00+08:00", "2026-05-01T00:00:00+08:00")],
)  # fmt: skip
async def test_a_window_that_ends_before_it_starts_holds_nothing(
    migrated_url: str, start: str, end: str
) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        raw = await client.get(FARM, params={"metric": "cod", "start": start, "end": end})
        daily = await client.get(
            FARM, params={"metric": "cod", "start": start, "end": end, "bucket": "1d"}
        )
    assert raw.status_code == 200, raw.text
    assert (raw.json()["points"], raw.json()["start"], raw.json()["end"]) == ([], start, end)
    assert daily.status_code == 200, daily.text
    assert daily.json()["buckets"] == []


@pytest.mark.asyncio
async def test_metric_is_required_and_unknown_sites_are_404(migrated_url: str) -> None:
    seed(migrated_url)
    async with api(migrated_url) as client:
        no_metric = await client.get(FARM)
        missing = await client.get("/api/v1/sites/nowhere/readings", params={"metric": "cod"})
    assert no_metric.status_code == 422
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no site with id 'nowhere'"}
