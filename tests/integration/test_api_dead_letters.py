"""Dead letters through the API on real PostgreSQL: newest first, filters, count."""

from __future__ import annotations

import hashlib

import psycopg
import pytest

from tests.integration.test_api_support import api

# (source, topic, reason, stored at, Shanghai)
LETTERS = [
    ("gw-luxi", "envgrid/v1/nodes/x/readings", "not JSON", "2026-05-01T08:00:00+08:00"),
    ("ingest", "envgrid/v1/nodes/ghost/readings", "unknown node", "2026-05-01T09:00:00+08:00"),
    ("gw-luxi", "envgrid/v1/nodes/y/readings", "seq missing", "2026-05-01T10:00:00+08:00"),
]


def seed_letters(database_url: str) -> None:
    """The dead letters above, received a minute before they were stored."""
    with psycopg.connect(database_url) as conn:
        conn.cursor().executemany(
            "INSERT INTO dead_letters"
            " (fingerprint, source, topic, reason, payload, encoding, received_at, stored_at)"
            " VALUES (%s, %s, %s, %s, %s, 'utf-8', %s::timestamptz - interval '1 minute', %s)",
            [
                (hashlib.sha256(reason.encode()).digest(), source, topic, reason, "{oops", ts, ts)
                for source, topic, reason, ts in LETTERS
            ],
        )
        conn.commit()


@pytest.mark.asyncio
async def test_dead_letters_newest_first_with_reason_and_count(migrated_url: str) -> None:
    seed_letters(migrated_url)
    async with api(migrated_url) as client:
        body = (await client.get("/api/v1/dead-letters")).json()
    assert body["count"] == 3
    assert [d["reason"] for d in body["items"]] == ["seq missing", "unknown node", "not JSON"]
    newest = body["items"][0]
    assert newest["source"] == "gw-luxi"
    assert newest["topic"] == "envgrid/v1/nodes/y/readings"
    assert newest["payload"] == "{oops"
    assert newest["encoding"] == "utf-8"
    assert newest["stored_at"] == "2026-05-01T10:00:00+08:00"
    assert newest["received_at"] == "2026-05-01T09:59:00+08:00"
    assert newest["fingerprint"] == hashlib.sha256(b"seq missing").hexdigest()


@pytest.mark.asyncio
async def test_dead_letters_filter_by_source_and_since_and_count_beyond_the_limit(
    migrated_url: str,
) -> None:
    seed_letters(migrated_url)
    async with api(migrated_url) as client:

        async def get(**params: str) -> tuple[int, list[str]]:
            response = await client.get("/api/v1/dead-letters", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            return body["count"], [d["reason"] for d in body["items"]]

        assert await get(source="gw-luxi") == (2, ["seq missing", "not JSON"])
        assert await get(source="nobody") == (0, [])
        assert await get(since="2026-05-01T09:00:00+08:00") == (2, ["seq missing", "unknown node"])
        # Naive: Shanghai time, so 01:00 UTC is 09:00 here.
        assert await get(since="2026-05-01T09:00:00") == (2, ["seq missing", "unknown node"])
        assert await get(since="2026-05-01T01:00:01Z") == (1, ["seq missing"])
        assert await get(limit="1") == (3, ["seq missing"])
        assert await get(source="gw-luxi", since="2026-05-01T09:00:00+08:00", limit="5") == (
            1,
            ["seq missing"],
        )
        bad_since = await client.get("/api/v1/dead-letters", params={"since": "last week"})
        bad_limit = await client.get("/api/v1/dead-letters", params={"limit": "0"})
    assert bad_since.status_code == 422
    assert bad_since.json()["detail"][0]["loc"] == ["query", "since"]
    assert bad_limit.status_code == 422
