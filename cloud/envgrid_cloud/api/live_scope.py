"""Which live-feed events a user may see: cases of their area, or told to a township of it.

The feed carries every change to every client; each client's stream keeps only what its user
may see. What that takes (each site's cell, each case's notified townships) is looked up
once and shared by all streams, and looked up again after :data:`TTL_S` (a site moved, a
township told later).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from envgrid_cloud.api.database import Pool
from envgrid_cloud.api.sql import fetch_all
from envgrid_cloud.auth.principal import Principal

TTL_S = 60.0


class LiveScope:
    """Shared lookups for the live feed's per-user filter."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._site_cells: dict[str, str] = {}
        self._sites_at = -TTL_S
        self._townships: dict[int, tuple[float, frozenset[str]]] = {}
        self._lock = asyncio.Lock()

    async def allows(self, principal: Principal, event: str, data: str) -> bool:
        """Whether ``principal`` may see this event (an admin sees all; resyncs go to all)."""
        if principal.cells is None or event != "case":
            return True
        body: dict[str, Any] = orjson.loads(data)
        area = set(principal.cells)
        if await self._cell_of(str(body.get("site_id"))) in area:
            return True
        told = set(body.get("notified_townships") or ())
        if told & area:
            return True
        return bool(await self._told(int(body["id"])) & area)

    async def _cell_of(self, site_id: str) -> str | None:
        if site_id not in self._site_cells or time.monotonic() - self._sites_at > TTL_S:
            async with self._lock:
                if site_id not in self._site_cells or time.monotonic() - self._sites_at > TTL_S:
                    async with self._pool.connection() as conn:
                        rows = await fetch_all(conn, "live_site_cells")
                    self._site_cells = {r["id"]: r["cell_id"] for r in rows}
                    self._sites_at = time.monotonic()
        return self._site_cells.get(site_id)

    async def _told(self, case_id: int) -> frozenset[str]:
        held = self._townships.get(case_id)
        if held is not None and time.monotonic() - held[0] <= TTL_S:
            return held[1]
        async with self._pool.connection() as conn:
            rows = await fetch_all(conn, "live_case_townships", case_id=case_id)
        townships = frozenset(r["township_id"] for r in rows)
        if len(self._townships) > 100_000:
            self._townships.clear()
        self._townships[case_id] = (time.monotonic(), townships)
        return townships
