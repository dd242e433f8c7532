"""``/sites/{id}``: a site's latest values with units and limits, its charts over the last day,
week or month (bucketed), its nodes' status and its cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from envgrid_cloud.api.cases import list_cases
from envgrid_cloud.api.latest import site_latest
from envgrid_cloud.api.models.latest import SiteLatest
from envgrid_cloud.api.models.readings import BucketSeries
from envgrid_cloud.api.models.sites import SiteDetail
from envgrid_cloud.api.readings import site_readings
from envgrid_cloud.api.sites import get_site
from envgrid_cloud.api.sql import fetch_one
from envgrid_cloud.desk.case_card import severity_badge
from envgrid_cloud.desk.case_chart import LIMIT_COLOUR, beijing_ms, metric_title
from envgrid_cloud.desk.context import desk
from envgrid_cloud.desk.i18n import CATEGORIES, STATES, label, t
from envgrid_cloud.desk.layout import frame
from envgrid_cloud.desk.signin import to_login
from envgrid_cloud.desk.silences_view import active_silences, silence_button, silences_card
from envgrid_cloud.desk.site_limits import limit_text, site_limits
from envgrid_cloud.desk.visit import Visit, number, visit_of, when

# Period shown → (how far back, bucket): about a hundred points each.
PERIODS: dict[str, tuple[timedelta, str]] = {
    "day": (timedelta(days=1), "15m"),
    "week": (timedelta(days=7), "2h"),
    "month": (timedelta(days=30), "6h"),
}
HISTORY = 20  # cases listed


def bucket_chart_options(
    series: BucketSeries, metric: str, limit: tuple[float | None, float | None] | None, locale: str
) -> dict[str, Any]:
    """Mean per bucket, with the range of each bucket shaded and the limits drawn."""
    means = [[beijing_ms(b.start), b.avg] for b in series.buckets]
    lows = [[beijing_ms(b.start), b.min] for b in series.buckets]
    spans = [
        [beijing_ms(b.start), None if b.max is None or b.min is None else b.max - b.min]
        for b in series.buckets
    ]
    limits = [v for v in (limit or (None, None)) if v is not None]
    limit_word = "limit" if locale == "en" else "限值"
    return {
        "useUTC": True,
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 48, "right": 16, "top": 32, "bottom": 24},
        "xAxis": {"type": "time"},
        "yAxis": {"type": "value", "name": metric_title(metric, locale), "scale": True},
        "series": [
            {"type": "line", "data": lows, "stack": "range", "lineStyle": {"opacity": 0},
             "showSymbol": False, "tooltip": {"show": False}},
            {"type": "line", "data": spans, "stack": "range", "lineStyle": {"opacity": 0},
             "areaStyle": {"color": "#b2dfdb"}, "showSymbol": False,
             "tooltip": {"show": False}},
            {"name": metric_title(metric, locale), "type": "line", "data": means,
             "showSymbol": False, "color": "#00695c",
             "markLine": {"symbol": "none", "data": [{"yAxis": v} for v in limits],
                          "lineStyle": {"color": LIMIT_COLOUR, "type": "dashed", "width": 2},
                          "label": {"formatter": f"{limit_word} {{c}}",
                                    "position": "insideEndTop"}}},
        ],
    }  # fmt: skip


class SitePageView:
    """The page of one site; the chart follows the metric and period chosen."""

    def __init__(self, visit: Visit, site: SiteDetail, raw: dict[str, Any]) -> None:
        self.visit, self.site = visit, site
        self.limits = site_limits(raw)
        self.metric: str | None = None
        self.period = "day"
        self.chart_slot: ui.column

    async def chart(self) -> None:
        """Draw the chosen metric over the chosen period."""
        self.chart_slot.clear()
        if self.metric is None:
            return
        span, bucket = PERIODS[self.period]
        end = datetime.now(UTC)
        async with desk().pool.connection() as conn:
            series = await site_readings(
                conn,
                self.visit.principal,
                self.site.id,
                self.metric,
                start=(end - span).isoformat(),
                end=end.isoformat(),
                bucket=bucket,
                node_id=None,
                limit=1000,
            )
        with self.chart_slot:
            if not isinstance(series, BucketSeries) or not series.buckets:
                ui.label(t("no_readings", self.visit.locale)).classes("eg-muted")
                return
            options = bucket_chart_options(
                series, self.metric, self.limits.get(self.metric), self.visit.locale
            )
            ui.echart(options).classes("w-full").style("height: 260px").props(
                "data-testid=site-chart"
            )


def _latest_table(latest: SiteLatest, view: SitePageView) -> None:
    locale = view.visit.locale
    columns = [
        {"name": "metric", "label": t("metric", locale), "field": "metric", "align": "left"},
        {"name": "value", "label": t("last_value", locale), "field": "value", "align": "right"},
        {"name": "limit", "label": t("limit", locale), "field": "limit", "align": "right"},
        {"name": "time", "label": t("time", locale), "field": "time", "align": "right"},
    ]
    rows = []
    for value in latest.values:
        name = (value.label_en if locale == "en" else value.label_zh) or value.metric
        limit = view.limits.get(value.metric)
        low, high = limit or (None, None)
        beyond = (high is not None and value.value > high) or (
            low is not None and value.value < low
        )
        rows.append(
            {
                "metric": f"{name} ({value.unit})" if value.unit else name,
                "value": number(value.value) + (" ⚠" if beyond else ""),
                "limit": limit_text(limit),
                "time": when(value.ts),
            }
        )
    ui.table(columns=columns, rows=rows, row_key="metric").classes("w-full").props(
        "flat bordered dense hide-bottom data-testid=site-latest"
    )


async def _render(visit: Visit, site_id: str) -> bool:
    locale = visit.locale
    async with desk().pool.connection() as conn:
        try:
            site = await get_site(conn, visit.principal, site_id)
        except HTTPException:
            return False
        raw = await fetch_one(conn, "site", site_id=site_id)
        latest = await site_latest(conn, visit.principal, site_id)
        cases = await list_cases(
            conn, visit.principal, township_id=None, site_id=site_id, state=None, open=None,
            assignee_id=None, severity=None, limit=HISTORY, offset=0,
        )  # fmt: skip
    if raw is None:
        return False
    view = SitePageView(visit, site, dict(raw))
    silences = await active_silences(visit, site_id)

    async def redraw() -> None:
        ui.navigate.reload()

    with ui.card().classes("w-full").props("flat bordered data-testid=site-summary"):
        with ui.row().classes("w-full items-center"):
            ui.label(site.name).classes("text-h6 col")
            silence_button(visit, redraw, site_id=site_id)
        ui.label(f"{label(CATEGORIES, site.category.value, locale)} · {site.id}").classes(
            "eg-muted"
        )
        if site.lon is not None and site.lat is not None:
            ui.label(f"{site.lat:.5f}°N {site.lon:.5f}°E").classes("eg-muted")
    await silences_card(visit, silences, redraw)
    with ui.card().classes("w-full").props("flat bordered"):
        ui.label(t("latest", locale)).classes("text-subtitle1")
        _latest_table(latest, view)
        metrics = {v.metric: metric_title(v.metric, locale) for v in latest.values}
        if metrics:
            view.metric = next(iter(metrics))

            async def choose_metric(value: Any) -> None:
                view.metric = value
                await view.chart()

            async def choose_period(value: Any) -> None:
                view.period = value
                await view.chart()

            with ui.row().classes("w-full items-center gap-2"):
                ui.select(
                    metrics, value=view.metric, on_change=lambda e: choose_metric(e.value)
                ).props("dense outlined data-testid=site-metric")
                ui.toggle(
                    {p: t(p, locale) for p in PERIODS},
                    value=view.period,
                    on_change=lambda e: choose_period(e.value),
                ).props("dense no-caps color=grey-3 text-color=black toggle-color=teal-9 "
                        "data-testid=site-period")  # fmt: skip
        view.chart_slot = ui.column().classes("w-full")
    await view.chart()
    with ui.card().classes("w-full").props("flat bordered data-testid=site-nodes"):
        ui.label(t("nodes", locale)).classes("text-subtitle1")
        for node in site.nodes:
            colour = {"online": "positive", "offline": "negative"}.get(node.status, "grey")
            with ui.row().classes("items-center gap-2"):
                ui.icon("circle", color=colour, size="xs")
                ui.label(f"{node.id} ({node.kind.value})")
                ui.label(f"{t(node.status, locale)} · {when(node.last_reading_at)}").classes(
                    "eg-muted"
                )
    with ui.card().classes("w-full").props("flat bordered data-testid=site-history"):
        ui.label(t("history", locale)).classes("text-subtitle1")
        if not cases.items:
            ui.label(t("no_cases", locale)).classes("eg-muted")
        for case in cases.items:
            with ui.row().classes("items-center gap-1 no-wrap"):
                severity_badge(case.severity.value, locale)
                ui.badge(label(STATES, case.state.value, locale)).props("outline color=teal-9")
                ui.link(f"#{case.id} {case.title}", f"/cases/{case.id}").classes("eg-title")
                ui.label(when(case.raised_at)).classes("eg-muted")
    return True


@ui.page("/sites/{site_id}")
async def site_page(request: Request, site_id: str) -> RedirectResponse | None:
    """A site of the user's area; "not found" for anybody else."""
    visit = await visit_of(request)
    if visit is None:
        return to_login(request)
    frame(visit.principal, visit.locale, site_id)
    with ui.column().classes("eg-page gap-3"):
        if not await _render(visit, site_id):
            ui.label(t("no_site", visit.locale)).classes("text-h6 q-pa-md").props(
                "data-testid=not-found"
            )
    return None
