"""The newest value of each metric at a site."""

from __future__ import annotations

from pydantic import Field

from envgrid_cloud.api.models.common import Out, ShanghaiTime


class LatestValue(Out):
    """The newest value of one metric at a site (最新监测值)."""

    metric: str
    value: float
    unit: str | None = Field(description="Unit from the catalogue; null for an unknown metric")
    label_zh: str | None
    label_en: str | None
    flag: str | None = Field(description="HJ 212 data flag (数据标记), e.g. N normal, D fault")
    ts: ShanghaiTime = Field(description="Time of measurement")
    seq: int
    node_id: str = Field(description="The node that measured it")


class SiteLatest(Out):
    """The newest value of every metric across a site's nodes."""

    site_id: str
    values: list[LatestValue]
