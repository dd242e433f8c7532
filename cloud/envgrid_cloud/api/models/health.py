"""The health check's answer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from envgrid_cloud.api.models.common import Out, ShanghaiTime


class Health(Out):
    """Whether the API and its database work."""

    status: Literal["ok", "unavailable"]
    database: str = Field(description='"ok", or why the database cannot be used')
    ingest: str = Field(
        default="ok",
        description='"ok", or which ingest workers are stalled or silent, and why',
    )
    timescaledb: bool | None = Field(description="TimescaleDB installed; null if unknown")
    schema_version: int | None = Field(description="Newest migration applied; null if none")
    server_version: str | None = Field(description="PostgreSQL server version")
    version: str = Field(description="envgrid version")
    time: ShanghaiTime = Field(description="The API's clock")
    ingest_lag_s: float | None = Field(
        default=None, description="Largest lag of live ingest workers; null if none reports"
    )
    dead_letters_last_hour: int | None = Field(default=None, description="Refusals lately")
    gateway_pending: int | None = Field(
        default=None, description="Messages queued in online gateways, as they last reported"
    )
