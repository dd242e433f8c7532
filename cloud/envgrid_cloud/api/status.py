"""``/api/v1/status``: queue depths, lag and refusals along the pipeline, for operators."""

from __future__ import annotations

from fastapi import APIRouter

from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.models.status import DeadLetterSummary, Gateway, IngestWorker, PipelineStatus
from envgrid_cloud.api.security import FORBIDDEN, Admin
from envgrid_cloud.api.sql import fetch_all, fetch_one

router = APIRouter(tags=["status"])


@router.get(
    "/status",
    summary="Pipeline status (运行状态): ingest lag, gateway queues, dead letters",
    responses=FORBIDDEN,
)
async def pipeline_status(conn: Conn, _admin: Admin) -> PipelineStatus:
    """What each ingest worker and gateway last reported, and how many messages were refused."""
    workers = [IngestWorker.model_validate(r) for r in await fetch_all(conn, "status_workers")]
    gateways = [Gateway.model_validate(r) for r in await fetch_all(conn, "status_gateways")]
    dead = await fetch_one(conn, "status_dead_letters")
    assert dead is not None  # an aggregate always yields one row
    live_lags = [w.lag_s for w in workers if w.live]
    return PipelineStatus(
        ingest_lag_s=max(live_lags) if live_lags else None,
        workers=workers,
        gateways=gateways,
        dead_letters=DeadLetterSummary.model_validate(dead),
    )
