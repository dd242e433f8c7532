"""Nodes (监测点位) as the API shows and takes them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from envgrid_cloud.api.models.common import In, Out, ShanghaiTime
from envgrid_common.messages import Identifier
from envgrid_common.registry import (
    NodeKind,
)

# A node reports at most every second and at least once a day (the no-data rule relies on it).
MIN_REPORT_INTERVAL_S = 1.0

MAX_REPORT_INTERVAL_S = 86_400.0


class Node(Out):
    """A sensor or camera node (监测点位) watching one site."""

    id: str
    site_id: str
    kind: NodeKind
    report_interval_s: float = Field(description="Expected seconds between readings")
    status: Literal["unknown", "online", "offline"] = Field(description="Liveness (在线状态)")
    status_at: ShanghaiTime | None = Field(description="When the status last changed")
    created_at: ShanghaiTime
    last_reading_at: ShanghaiTime | None = Field(
        description="Source time of the newest value stored for this node"
    )


class NodeUpdate(In):
    """Which site a node watches and how it reports."""

    site_id: Identifier
    kind: NodeKind = NodeKind.SENSOR
    report_interval_s: float = Field(
        default=60.0,
        ge=MIN_REPORT_INTERVAL_S,
        le=MAX_REPORT_INTERVAL_S,
        allow_inf_nan=False,
        strict=True,
        description="Expected seconds between readings: 1 s to a day",
    )


class NodeCreate(NodeUpdate):
    """A new node."""

    id: Identifier
