"""``/api/v1/metrics``: the metric catalogue (监测因子)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from envgrid_cloud.api.errors import not_found
from envgrid_cloud.api.models.metrics import Metric
from envgrid_common import metrics
from envgrid_common.messages import ID_PATTERN

router = APIRouter(tags=["metrics"])


def _out(metric: metrics.Metric) -> Metric:
    return Metric(
        name=metric.name,
        unit=metric.unit,
        medium=metric.medium,
        label_zh=metric.label_zh,
        label_en=metric.label_en,
        hj212_2017=metric.hj212_2017,
        hj212_2005=metric.hj212_2005,
    )


@router.get("/metrics", summary="Metric catalogue")
async def list_metrics() -> list[Metric]:
    """Every canonical metric with its unit, labels and HJ 212 codes."""
    return [_out(m) for m in metrics.METRICS.values()]


@router.get("/metrics/{name}", summary="One metric", responses={404: {"description": "Unknown"}})
async def get_metric(name: Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]) -> Metric:
    """One metric of the catalogue."""
    metric = metrics.METRICS.get(name)
    if metric is None:
        raise not_found("metric", name)
    return _out(metric)
