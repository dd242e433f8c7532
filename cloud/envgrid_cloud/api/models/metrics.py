"""The metrics the API knows (监测因子): names, units, labels, HJ 212 codes."""

from __future__ import annotations

from pydantic import Field

from envgrid_cloud.api.models.common import Out
from envgrid_common.metrics import Medium


class Metric(Out):
    """A canonical metric name, its unit and labels (监测因子)."""

    name: str = Field(description="Canonical name used in readings' `values`", examples=["cod"])
    unit: str = Field(examples=["mg/L"])
    medium: Medium = Field(description="水 water, 气 air, or other")
    label_zh: str = Field(examples=["化学需氧量"])
    label_en: str = Field(examples=["COD"])
    hj212_2017: str | None = Field(description="HJ 212-2017 factor code (因子编码)")
    hj212_2005: str | None = Field(description="HJ/T 212-2005 code (原编码)")
