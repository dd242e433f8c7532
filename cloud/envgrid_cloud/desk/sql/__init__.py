"""The desk's own SQL, one statement per ``.sql`` file (the API's is in ``api/sql``)."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from envgrid_cloud.sqlfiles import loader

load = loader(__name__)


async def fetch_all(conn: AsyncConnection[DictRow], name: str, **params: object) -> list[DictRow]:
    """Every row of statement ``name`` run with ``params``."""
    cursor = await conn.execute(load(name), params)
    return await cursor.fetchall()


async def fetch_one(conn: AsyncConnection[DictRow], name: str, **params: object) -> DictRow | None:
    """The first row of statement ``name`` run with ``params``, if any."""
    cursor = await conn.execute(load(name), params)
    return await cursor.fetchone()
