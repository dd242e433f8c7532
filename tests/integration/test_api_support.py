"""Helpers for the API tests (no tests here): a seeded township and a client on the app."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import psycopg
from fastapi import FastAPI
from psycopg.types.json import Jsonb

from envgrid_cloud.app import create_app
from envgrid_cloud.auth.accounts import NewUser, add_user, connect, issue_token
from envgrid_cloud.registry.store import upsert_registry
from envgrid_cloud.settings import CloudSettings
from envgrid_common.registry import (
    GridCell,
    GridLevel,
    Node,
    NodeKind,
    Registry,
    Site,
    SiteCategory,
)

REGISTRY = Registry(
    cells=(
        GridCell(id="ju", level=GridLevel.COUNTY, name="莒县"),
        GridCell(id="luxi", level=GridLevel.TOWNSHIP, name="芦溪镇", parent_id="ju"),
        GridCell(id="xiaodian", level=GridLevel.TOWNSHIP, name="小店镇", parent_id="ju"),
        GridCell(id="luxi-v1", level=GridLevel.VILLAGE, name="东村", parent_id="luxi"),
        GridCell(id="luxi-v1-g1", level=GridLevel.GROUP, name="一组", parent_id="luxi-v1"),
    ),
    sites=(
        Site(id="farm1", name="东村养猪场", category=SiteCategory.LIVESTOCK_FARM,
             cell_id="luxi-v1-g1", lon=118.9, lat=35.6),
        Site(id="river1", name="沭河芦溪段", category=SiteCategory.WATER_BODY, cell_id="luxi"),
        Site(id="road2", name="小店路口", category=SiteCategory.ROAD_SECTION, cell_id="xiaodian"),
    ),
    nodes=(
        Node(id="farm1-s1", site_id="farm1", report_interval_s=300),
        Node(id="farm1-s2", site_id="farm1"),
        Node(id="farm1-cam", site_id="farm1", kind=NodeKind.CAMERA),
        Node(id="river1-s1", site_id="river1"),
        Node(id="road2-s1", site_id="road2"),
    ),
)  # fmt: skip


def at(text: str) -> datetime:
    """An aware instant from ISO text with its offset."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None
    return value


# (node, Shanghai time, seq, values, flags, historical): around Shanghai midnight 1→2 May.
READINGS: list[tuple[str, str, int, dict[str, float], dict[str, str] | None, bool]] = [
    # 01:00 Shanghai is 17:00 UTC the day before: a UTC-aligned day would misplace it.
    ("farm1-s1", "2026-05-01T01:00:00+08:00", 0, {"cod": 5.0}, None, False),
    ("farm1-s1", "2026-05-01T23:50:00+08:00", 1, {"cod": 10.0, "nh3n": 1.0}, {"cod": "N"}, False),
    ("farm1-s1", "2026-05-01T23:55:00+08:00", 2, {"cod": 20.0}, None, False),
    ("farm1-s2", "2026-05-01T23:58:00+08:00", 1, {"cod": 30.0}, {"cod": "D"}, False),
    ("farm1-s1", "2026-05-02T00:00:00+08:00", 3, {"cod": 40.0}, None, False),
    ("farm1-s2", "2026-05-02T00:10:00+08:00", 2, {"cod": 50.0}, {"cod": "T"}, True),
    ("farm1-s2", "2026-05-02T00:12:00+08:00", 3, {"nh3n": 1.5}, None, False),
    ("farm1-s1", "2026-05-02T00:14:59.999+08:00", 4, {"cod": 60.0}, None, False),
    ("farm1-s1", "2026-05-02T00:15:00+08:00", 5, {"cod": 70.0}, None, False),
    # Another site's value in the same window must never show up for farm1.
    ("river1-s1", "2026-05-02T00:05:00+08:00", 1, {"cod": 999.0}, None, False),
]

# (node, metric, Shanghai time, seq, value, flag)
LATEST: list[tuple[str, str, str, int, float, str | None]] = [
    ("farm1-s1", "cod", "2026-05-02T00:15:00+08:00", 5, 70.0, "N"),
    ("farm1-s2", "cod", "2026-05-02T00:10:00+08:00", 2, 50.0, "T"),
    ("farm1-s1", "nh3n", "2026-05-01T23:50:00+08:00", 1, 1.0, None),
    ("farm1-s2", "nh3n", "2026-05-02T00:12:00+08:00", 3, 1.5, None),
    ("river1-s1", "cod", "2026-05-02T00:30:00+08:00", 9, 999.0, None),
]


def seed(database_url: str) -> None:
    """The registry above, its readings and latest values."""
    with psycopg.connect(database_url) as conn:
        upsert_registry(conn, REGISTRY)
        insert_readings(conn, READINGS)
        conn.cursor().executemany(
            "INSERT INTO latest_values (node_id, metric, ts, seq, value, flag)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(n, m, at(ts), seq, v, f) for n, m, ts, seq, v, f in LATEST],
        )


def insert_readings(
    conn: psycopg.Connection[object],
    rows: list[tuple[str, str, int, dict[str, float], dict[str, str] | None, bool]],
) -> None:
    """Readings as the ingest stores them."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (node_id, ts, seq, vals, flags, historical)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (node, at(ts), seq, Jsonb(vals), Jsonb(flags) if flags else None, hist)
                for node, ts, seq, vals, flags, hist in rows
            ],
        )


ADMIN = "t-admin"


def token_for(
    database_url: str, user_id: str = ADMIN, role: str = "admin", cell_id: str | None = None
) -> str:
    """A fresh API token of ``user_id``, who is added (without a password) if missing."""
    with connect(database_url) as conn:
        exists = conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone()
        if not exists:
            add_user(conn, NewUser(user_id, user_id, user_id, role, cell_id), None)
        token, _ = issue_token(conn, user_id, f"t-{uuid.uuid4().hex[:8]}", None)
    return token


_tokens: dict[tuple[str, str], str] = {}


def as_user(database_url: str, user_id: str) -> dict[str, str]:
    """Headers that make a request as ``user_id`` (an existing user), by an API token."""
    key = (database_url, user_id)
    if key not in _tokens:
        _tokens[key] = token_for(database_url, user_id)
    return {"Authorization": f"Bearer {_tokens[key]}"}


@asynccontextmanager
async def running(app: FastAPI, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client on ``app`` in process, with its lifespan (the pool) running."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers
        ) as c,
    ):
        yield c


@asynccontextmanager
async def api(database_url: str, token: str | None = "admin") -> AsyncIterator[httpx.AsyncClient]:
    """A client on a fresh app over ``database_url``, with an administrator's token by default
    (``token=None``: anonymous; any other string: that token)."""
    if token == "admin":
        token = token_for(database_url)
    async with running(create_app(CloudSettings(database_url=database_url)), token) as client:
        yield client
