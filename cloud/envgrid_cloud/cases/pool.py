"""A small synchronous pool for case writes and sweeps, run in threads beside the async API."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

POOL_MAX = 4
OPEN_TIMEOUT_S = 10.0
ACQUIRE_TIMEOUT_S = 10.0

SyncPool = ConnectionPool[psycopg.Connection[Any]]


def open_sync_pool(database_url: str) -> SyncPool:
    """An open pool on ``database_url`` whose connections each run their own transactions."""
    pool: SyncPool = ConnectionPool(
        database_url,
        kwargs={"autocommit": True, "application_name": "envgrid-cases"},
        min_size=1,
        max_size=POOL_MAX,
        timeout=ACQUIRE_TIMEOUT_S,
        # Checked on checkout, so writes and sweeps recover by themselves after a restart.
        check=ConnectionPool.check_connection,
        name="envgrid-cases",
        open=False,
    )
    pool.open(wait=True, timeout=OPEN_TIMEOUT_S)
    return pool
