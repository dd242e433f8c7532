"""The API's SQL, one statement per ``.sql`` file, loaded once from the package."""

from __future__ import annotations

from functools import cache
from importlib import resources

from psycopg import AsyncConnection
from psycopg.rows import DictRow


@cache
def load(name: str) -> bytes:
    """The statement in ``{name}.sql`` (bytes: psycopg runs it without a literal-string type)."""
    return resources.files(__name__).joinpath(f"{name}.sql").read_bytes()


async def fetch_all(conn: AsyncConnection[DictRow], name: str, **params: object) -> list[DictRow]:
    """Every row of statement ``name`` run with ``params``."""
    cursor = await conn.execute(load(name), params)
    return await cursor.fetchall()


async def fetch_one(conn: AsyncConnection[DictRow], name: str, **params: object) -> DictRow | None:
    """The first row of statement ``name`` run with ``params``, if any."""
    cursor = await conn.execute(load(name), params)
    return await cursor.fetchone()
