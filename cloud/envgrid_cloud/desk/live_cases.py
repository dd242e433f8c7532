"""One lookup per case change, shared by every open case list (not one per browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from psycopg.rows import DictRow

from envgrid_cloud.api.database import Pool
from envgrid_cloud.desk.case_list import load_case

KEEP_S = 10.0  # a change's row is kept this long for the lists that hear of it late


class LiveCases:
    """The list row of a changed case, read once however many lists show it."""

    def __init__(self, pool: Callable[[], Pool]) -> None:
        self._pool = pool
        self._rows: dict[tuple[int, str], asyncio.Future[DictRow | None]] = {}

    async def row(self, case_id: int, version: str) -> DictRow | None:
        """The case as of change ``version`` (its updated_at); None if it has gone."""
        key = (case_id, version)
        found = self._rows.get(key)
        if found is None:
            found = asyncio.ensure_future(self._load(case_id))
            self._rows[key] = found
            loop = asyncio.get_running_loop()
            found.add_done_callback(lambda _: loop.call_later(KEEP_S, self._rows.pop, key, None))
        return await asyncio.shield(found)

    async def _load(self, case_id: int) -> DictRow | None:
        async with self._pool().connection() as conn:
            return await load_case(conn, case_id)
