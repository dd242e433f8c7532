"""``/healthz``: is the API up and can it use its database."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from fastapi import APIRouter, Request, Response, status
from psycopg_pool import PoolTimeout

from envgrid_cloud.api.database import pool_of
from envgrid_cloud.api.models import Health
from envgrid_cloud.queries import fetch_one
from envgrid_common import __version__

router = APIRouter(tags=["health"])

# Probes run every few seconds: answer "unavailable" quickly rather than wait for the pool.
HEALTH_TIMEOUT_S = 2.0
# The migration that added the pipeline status tables.
PIPELINE_SCHEMA = 4


@router.get(
    "/healthz",
    summary="Health of the API and its database",
    responses={503: {"model": Health, "description": "The database cannot be used"}},
)
async def healthz(request: Request, response: Response) -> Health:
    """200 when the database answers, 503 with the reason when it does not."""
    now = datetime.now(UTC)
    try:
        async with pool_of(request).connection(timeout=HEALTH_TIMEOUT_S) as conn:
            row = await fetch_one(conn, "health")
            assert row is not None  # a SELECT without FROM always yields one row
            schema = await fetch_one(conn, "schema_version") if row["migrated"] else None
            pipeline = (
                await fetch_one(conn, "health_pipeline")
                if schema and schema["schema_version"] >= PIPELINE_SCHEMA
                else None
            )
    except PoolTimeout:
        reason = f"no connection within {HEALTH_TIMEOUT_S:g} s (database down or overloaded)"
    except psycopg.Error as exc:
        reason = f"{type(exc).__name__}: {exc}".strip()
    else:
        return Health(
            status="ok",
            database="ok",
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
