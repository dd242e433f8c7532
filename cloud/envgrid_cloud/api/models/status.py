"""The pipeline's status: ingest workers, gateways, dead letters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from envgrid_cloud.api.models.common import Out, ShanghaiTime


class IngestWorker(Out):
    """One ingest worker's counters, as it last recorded them."""

    client_id: str = Field(description="Its fixed MQTT client id")
    host: str
    pid: int
    received: int
    stored: int = Field(description="Readings newly stored")
    duplicates: int = Field(description="Readings received again and not stored twice")
    dead_lettered: int
    batches: int
    lag_s: float = Field(
        description="Age of the oldest message the broker gave it that it has not yet "
        "committed and acknowledged (入库延迟)"
    )
    held: int = Field(description="Messages received and not yet acknowledged")
    state: Literal["running", "stalled", "stopped"] = Field(
        description="stalled: it holds messages and has committed nothing for "
        "ENVGRID_INGEST_STALL_S; stopped: it stopped cleanly"
    )
    reason: str | None = Field(description="Why it is stalled")
    reconnects: int = Field(description="Times it had to connect to the broker again")
    last_received_at: ShanghaiTime | None = Field(description="When a message last came")
    last_commit_at: ShanghaiTime | None
    started_at: ShanghaiTime
    updated_at: ShanghaiTime = Field(description="When it last reported")
    live: bool = Field(description="Reported within the last 30 seconds")


class Gateway(Out):
    """A township gateway's last reported status."""

    id: str
    state: Literal["online", "offline"]
    counters: dict[str, int] = Field(
        description="Its counters: received, forwarded, dead_lettered, pending (queue depth), …"
    )
    reported_at: ShanghaiTime | None = Field(description="The gateway's own time of the report")
    updated_at: ShanghaiTime = Field(description="When the cloud stored it")


class DeadLetterSummary(Out):
    """How many messages were refused."""

    total: int
    last_hour: int
    newest: ShanghaiTime | None


class PipelineStatus(Out):
    """The pipeline at a glance: ingest workers, gateways, dead letters."""

    ingest_lag_s: float | None = Field(description="Largest lag among live workers; null if none")
    workers: list[IngestWorker]
    gateways: list[Gateway]
    dead_letters: DeadLetterSummary
