"""The one loader of the cloud's SQL: ``<package>/sql/<name>.sql``, one statement per file."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources

from psycopg import AsyncConnection
from psycopg.rows import DictRow


def loader(package: str) -> Callable[[str], bytes]:
    """``load(name)``: the statement in ``{name}.sql`` of ``package`` (a sql folder), read once."""

    @cache
    def load(name: str) -> bytes:
        # Bytes, so psycopg runs it without asking for a literal-string type.
        return resources.files(package).joinpath(f"{name}.sql").read_bytes()

    return load


class AsyncStatements:
    """The statements of one sql folder, run on an async connection."""

    def __init__(self, package: str) -> None:
        self.load = loader(package)

    async def fetch_all(
        self, conn: AsyncConnection[DictRow], name: str, **params: object
    ) -> list[DictRow]:
        """Every row of statement ``name`` run with ``params``."""
        cursor = await conn.execute(self.load(name), params)
        return await cursor.fetchall()

    async def fetch_one(
        self, conn: AsyncConnection[DictRow], name: str, **params: object
    ) -> DictRow | None:
        """The first row of statement ``name`` run with ``params``, if any."""
        cursor = await conn.execute(self.load(name), params)
        return await cursor.fetchone()
