"""``/healthz``: is the API up and can it use its database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi import APIRouter, Request, Response, status
from psycopg_pool import PoolTimeout

from envgrid_cloud.api.database import pool_of
from envgrid_cloud.api.models.health import Health
from envgrid_cloud.api.sql import fetch_all, fetch_one
from envgrid_common import __version__

router = APIRouter(tags=["health"])

# Probes run every few seconds: answer "unavailable" quickly rather than wait for the pool.
HEALTH_TIMEOUT_S = 2.0
# The migrations that added the pipeline status tables, and the ingest workers' health.
PIPELINE_SCHEMA = 4
INGEST_HEALTH_SCHEMA = 7


@router.get(
    "/healthz",
    summary="Health of the API, its database and the ingest",
    responses={
        503: {
            "model": Health,
            "description": "The database cannot be used, or an ingest worker is stalled or silent",
        }
    },
)
async def healthz(request: Request, response: Response) -> Health:
    """200 when the database answers and every ingest worker progresses; else 503 and why."""
    now = datetime.now(UTC)
    try:
        async with pool_of(request).connection(timeout=HEALTH_TIMEOUT_S) as conn:
            row = await fetch_one(conn, "health")
            assert row is not None  # a SELECT without FROM always yields one row
            schema = await fetch_one(conn, "schema_version") if row["migrated"] else None
            version = schema["schema_version"] if schema else 0
            pipeline = (
                await fetch_one(conn, "health_pipeline") if version >= PIPELINE_SCHEMA else None
            )
            unwell = (
                await fetch_all(conn, "health_ingest") if version >= INGEST_HEALTH_SCHEMA else []
            )
    except PoolTimeout:
        reason = f"no connection within {HEALTH_TIMEOUT_S:g} s (database down or overloaded)"
    except psycopg.Error as exc:
        reason = f"{type(exc).__name__}: {exc}".strip()
    else:
        ingest = "; ".join(_unwell(w) for w in unwell) or "ok"
        if unwell:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(
            status="unavailable" if unwell else "ok",
            database="ok",
            ingest=ingest,
            timescaledb=row["timescaledb"],
            schema_version=schema["schema_version"] if schema else None,
            server_version=row["server_version"],
            version=__version__,
            time=now,
            **(pipeline or {}),
        )
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(
        status="unavailable",
        database=reason,
        timescaledb=None,
        schema_version=None,
        server_version=None,
        version=__version__,
        time=now,
    )


def _unwell(worker: dict[str, Any]) -> str:
    """One ingest worker's trouble, in words."""
    if worker["state"] == "stalled":
        return f"{worker['client_id']} stalled: {worker['reason']}"
    return f"{worker['client_id']} has not reported for {worker['silent_s']:.0f} s"
