"""Readings of a node over time: raw points or time buckets."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from envgrid_cloud.api.models.common import Out, ShanghaiTime


class ReadingPoint(Out):
    """One stored value of the requested metric."""

    ts: ShanghaiTime = Field(description="Time of measurement (监测时间)")
    node_id: str
    seq: int
    value: float
    flag: str | None = Field(description="HJ 212 data flag (数据标记), if the node sent one")
    historical: bool = Field(description="Sent late from a buffer (补传数据)")


class Bucket(Out):
    """Statistics of one interval; only valid values (flag absent, N, S or T) count."""

    start: ShanghaiTime = Field(description="Interval start (inclusive)")
    end: ShanghaiTime = Field(description="Interval end (exclusive)")
    avg: float | None = Field(description="Mean of valid values (均值); null if none")
    min: float | None
    max: float | None
    count: int = Field(description="Valid values in the interval (有效数据个数)")
    invalid: int = Field(description="Values flagged F, M, D, C or B (无效数据个数), left out")


class _Series(Out):
    site_id: str
    node_id: str | None = Field(description="The node asked for; null for all the site's nodes")
    metric: str
    unit: str
    start: ShanghaiTime = Field(description="Window start (inclusive)")
    end: ShanghaiTime = Field(description="Window end (exclusive)")
    limit: int = Field(description="Most rows this response could hold")
    truncated: bool = Field(description="More rows matched than `limit`; narrow the window")


class RawSeries(_Series):
    """Stored points of one metric, oldest first."""

    kind: Literal["raw"] = "raw"
    points: list[ReadingPoint]


class BucketSeries(_Series):
    """One metric aggregated per interval (aligned to Asia/Shanghai midnight), oldest first."""

    kind: Literal["buckets"] = "buckets"
    bucket: str = Field(description="The interval as an ISO 8601 duration", examples=["PT15M"])
    bucket_seconds: int
    buckets: list[Bucket] = Field(description="Intervals holding at least one value")


Series = Annotated[RawSeries | BucketSeries, Field(discriminator="kind")]
