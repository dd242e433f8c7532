"""The API's connection pool: opened with the app, one pooled connection per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from envgrid_cloud.api.sql import load

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]

POOL_MIN = 1
POOL_MAX = 10
CONNECT_TIMEOUT_S = 5
# A request waits this long for a free (or re-established) connection before it gets a 503.
ACQUIRE_TIMEOUT_S = 10.0


class DatabaseUnreachable(RuntimeError):
    """The database named in the settings cannot be used."""


def describe(database_url: str) -> str:
    """``user@host:port/dbname`` of a connection URL, without its password."""
    try:
        parts = conninfo_to_dict(database_url)
    except psycopg.ProgrammingError:
        return "(an unparsable database URL)"
    host = parts.get("host") or "localhost"
    return f"{parts.get('user') or ''}@{host}:{parts.get('port') or 5432}/{parts.get('dbname')}"


async def _configure(conn: AsyncConnection[DictRow]) -> None:
    await conn.execute(load("statement_timeout"))


async def open_pool(database_url: str) -> Pool:
    """A pool on ``database_url``, or ``DatabaseUnreachable`` saying why not."""
    where = describe(database_url)
    # One direct attempt first: it fails at once with the server's own reason, where a
    # pool would only retry quietly until its timeout.
    try:
        probe = await AsyncConnection.connect(database_url, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise DatabaseUnreachable(f"cannot reach the database {where}: {exc}".strip()) from exc
    await probe.close()
    pool = Pool(
        database_url,
        connection_class=AsyncConnection[DictRow],
        kwargs={"row_factory": dict_row, "autocommit": True, "application_name": "envgrid-api"},
        min_size=POOL_MIN,
        max_size=POOL_MAX,
        timeout=ACQUIRE_TIMEOUT_S,
        # Checked on every checkout, so the API recovers by itself after a database restart.
        check=Pool.check_connection,
        configure=_configure,
        name="envgrid-api",
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 2)
    except PoolTimeout as exc:
        await pool.close()
        raise DatabaseUnreachable(f"cannot open connections to the database {where}") from exc
    return pool


def pool_of(request: Request) -> Pool:
    """The pool the app opened at startup."""
    pool: Pool = request.app.state.pool
    return pool


async def connection(request: Request) -> AsyncIterator[AsyncConnection[DictRow]]:
    """A pooled connection for the length of one request."""
    async with pool_of(request).connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection[DictRow], Depends(connection)]
