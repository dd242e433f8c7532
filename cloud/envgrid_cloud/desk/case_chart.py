"""The readings around a case as an ECharts line, with its limit drawn across."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from envgrid_cloud.api.models.cases import CaseFile
from envgrid_common.clock import to_shanghai
from envgrid_common.metrics import METRICS

LIMIT_COLOUR = "#c10015"


def beijing_ms(value: datetime) -> int:
    """A time as ECharts draws it with ``useUTC``: Beijing's wall clock, whatever the
    browser's time zone (every other time on the desk is Beijing time too)."""
    wall = to_shanghai(value).replace(tzinfo=UTC)
    return int(wall.timestamp() * 1000)


def metric_title(metric: str, locale: str) -> str:
    """A metric's name and unit as people read them: ``氨氮 (mg/L)``."""
    known = METRICS.get(metric)
    if known is None:
        return metric
    name = known.label_en if locale == "en" else known.label_zh
    return f"{name} ({known.unit})" if known.unit else name


def limits_of(detail: dict[str, Any]) -> list[float]:
    """The limits a rule's detail names (a band has two)."""
    found = [detail.get("limit"), detail.get("above"), detail.get("below")]
    return sorted({float(v) for v in found if isinstance(v, int | float)})


def case_chart_options(file: CaseFile, locale: str) -> dict[str, Any] | None:
    """Chart options for the case's metric, one line per node; None without a metric or data."""
    metric = file.case.metric
    if metric is None:
        return None
    lines: dict[str, list[list[Any]]] = {}
    for reading in file.readings:
        value = reading.values.get(metric)
        if isinstance(value, int | float):
            lines.setdefault(reading.node_id, []).append([beijing_ms(reading.ts), value])
    if not lines:
        return None
    limit_word = "limit" if locale == "en" else "限值"
    mark_line = {
        "symbol": "none",
        "lineStyle": {"color": LIMIT_COLOUR, "type": "dashed", "width": 2},
        "label": {"formatter": f"{limit_word} {{c}}", "position": "insideEndTop"},
        "data": [{"yAxis": limit} for limit in limits_of(file.case.detail)],
    }
    series = [
        {
            "name": node_id,
            "type": "line",
            "showSymbol": len(points) < 60,
            "data": points,
            **({"markLine": mark_line} if index == 0 else {}),
        }
        for index, (node_id, points) in enumerate(sorted(lines.items()))
    ]
    return {
        "useUTC": True,
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"show": len(series) > 1, "bottom": 0},
        "grid": {"left": 48, "right": 16, "top": 32, "bottom": 40 if len(series) > 1 else 24},
        "xAxis": {
            "type": "time",
            "min": beijing_ms(file.readings_start),
            "max": beijing_ms(file.readings_end),
        },
        "yAxis": {"type": "value", "name": metric_title(metric, locale), "scale": True},
        "series": series,
    }
