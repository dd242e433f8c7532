"""409 answers for registry writes, and the checks the routers share before writing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

import psycopg
from fastapi import HTTPException, status
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from envgrid_cloud.api.errors import invalid
from envgrid_cloud.api.sql import fetch_all, fetch_one, load
from envgrid_common.registry import downstream_cycle


def conflict(message: str) -> HTTPException:
    """409: the request clashes with what is stored."""
    return HTTPException(status.HTTP_409_CONFLICT, detail=message)


def plural(count: int, noun: str) -> str:
    """``1 site``, ``3 sites``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


async def write_one(
    conn: AsyncConnection[DictRow], name: str, params: Mapping[str, object]
) -> DictRow | None:
    """The row statement ``name`` returns (``RETURNING``), its params given as one mapping."""
    cursor = await conn.execute(load(name), params)
    return await cursor.fetchone()


@asynccontextmanager
async def writing(conn: AsyncConnection[DictRow]) -> AsyncIterator[None]:
    """One transaction; a constraint another writer got to first is a 409, not a 500."""
    try:
        async with conn.transaction():
            yield
    except psycopg.errors.IntegrityError as exc:
        # The checks before each write give the friendly message; this is the race behind them.
        diag = exc.diag.message_primary or str(exc)
        raise conflict(f"the change clashes with data written meanwhile: {diag}") from None


async def require_cell(
    conn: AsyncConnection[DictRow], cell_id: str, field: str = "cell_id"
) -> DictRow:
    """The grid cell named in the body, or a 422 on that field."""
    row = await fetch_one(conn, "grid_cell", cell_id=cell_id)
    if row is None:
        raise invalid(field, f"no grid cell with id {cell_id!r}", cell_id, where="body")
    return row


async def require_site(
    conn: AsyncConnection[DictRow], site_id: str, field: str = "site_id"
) -> None:
    """The site named in the body exists, or a 422 on that field."""
    if await fetch_one(conn, "site", site_id=site_id) is None:
        raise invalid(field, f"no site with id {site_id!r}", site_id, where="body")


async def set_downstream(
    conn: AsyncConnection[DictRow], site_id: str, downstream: Iterable[str]
) -> None:
    """Replace a site's downstream links (inside a transaction): 422 unknown, 409 a circle."""
    wanted = list(downstream)
    if site_id in wanted:
        raise invalid("downstream", "a site cannot be downstream of itself", site_id, "body")
    found = {row["id"] for row in await fetch_all(conn, "site_ids", site_ids=wanted)}
    missing = [w for w in wanted if w not in found]
    if missing:
        raise invalid(
            "downstream", f"no site with id {', '.join(map(repr, missing))}", missing, "body"
        )
    await conn.execute(load("site_downstream_lock"))
    await conn.execute(load("site_downstream_clear"), {"site_id": site_id})
    if wanted:
        await conn.execute(load("site_downstream_add"), {"site_id": site_id, "downstream": wanted})
    # Walked from the site being changed first, so a circle is told starting from it.
    links: defaultdict[str, list[str]] = defaultdict(list, {site_id: []})
    for row in await fetch_all(conn, "site_downstream_edges"):
        links[row["site_id"]].append(row["downstream_id"])
    cycle = downstream_cycle(links)
    if cycle:
        raise conflict(f"water would flow in a circle: {' → '.join(cycle)}")
