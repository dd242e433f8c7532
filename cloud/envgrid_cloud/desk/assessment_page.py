"""``/assessment``: the monthly assessment (考评) of the townships of the user's area, ranked,
and ``/assessment/{township}`` the same figures by village; the weights shown (an admin sets
them), CSV and Excel from the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from envgrid_cloud.api.sql import fetch_one
from envgrid_cloud.assessment import (
    Assessed,
    Month,
    Report,
    UnknownTownship,
    Weights,
    current_weights,
    formula,
    save_weights,
    township_report,
    village_report,
)
from envgrid_cloud.desk.context import desk
from envgrid_cloud.desk.i18n import t
from envgrid_cloud.desk.layout import dialog_buttons, frame
from envgrid_cloud.desk.signin import to_login
from envgrid_cloud.desk.visit import Visit, visit_of

MONTHS_OFFERED = 12
WEIGHT_FIELDS = ("ack_on_time", "close_on_time", "self_found", "overdue", "false_alarm")

# column → (zh-CN, en)
HEADERS: dict[str, tuple[str, str]] = {
    "rank": ("排名", "Rank"),
    "name": ("名称", "Name"),
    "cases": ("案件数", "Cases"),
    "ack_rate": ("按时签收率", "Acknowledged on time"),
    "ack_median": ("签收用时中位数", "Median to acknowledge"),
    "close_rate": ("按时办结率", "Closed on time"),
    "close_median": ("办结用时中位数", "Median to close"),
    "overdue": ("超期", "Overdue"),
    "dismissed": ("误报", "False alarms"),
    "self_found": ("主动发现", "Found by officers"),
    "open": ("未结", "Open"),
    "score": ("得分", "Score"),
}
WEIGHT_LABELS: dict[str, tuple[str, str]] = {
    "ack_on_time": ("按时签收率", "acknowledged on time"),
    "close_on_time": ("按时办结率", "closed on time"),
    "self_found": ("主动发现占比", "found by officers"),
    "overdue": ("超期率 (扣分)", "overdue (deducted)"),
    "false_alarm": ("误报率 (扣分)", "false alarms (deducted)"),
}


def _formula(weights: Weights, locale: str) -> str:
    """The score's formula with the weights in force, in the page's language."""
    if locale != "en":
        return formula(weights)
    parts = [f"{getattr(weights, f):g} × {WEIGHT_LABELS[f][1]}" for f in WEIGHT_FIELDS]
    return (
        "Score = "
        + " + ".join(parts[:3])
        + " − "
        + " − ".join(parts[3:]).replace(" (deducted)", "")
    )


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _hours(seconds: float | None, locale: str) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 3600:.1f} h" if locale == "en" else f"{seconds / 3600:.1f} 小时"


def _row(item: Assessed, locale: str, link: str | None) -> dict[str, Any]:
    f, r = item.figures, item.rates
    return {
        "key": f.id or "-",
        "link": link,
        "rank": item.rank if item.rank is not None else "—",
        "name": f.name,
        "cases": f.cases,
        "ack_rate": _rate(r.ack_on_time),
        "ack_median": _hours(f.median_ack_s, locale),
        "close_rate": _rate(r.close_on_time),
        "close_median": _hours(f.median_close_s, locale),
        "overdue": f.overdue,
        "dismissed": f.dismissed,
        "self_found": f.self_found,
        "open": f.open,
        "score": "—" if item.score is None else f"{item.score:.2f}",
    }


def _table(report: Report, visit: Visit, month: Month) -> None:
    locale = visit.locale
    columns = [
        {"name": k, "label": v[1] if locale == "en" else v[0], "field": k,
         "align": "left" if k == "name" else "right"}
        for k, v in HEADERS.items()
    ]  # fmt: skip
    rows = []
    for item in report.rows:
        link = None
        if report.level == "township" and item.figures.id:
            link = f"/assessment/{quote(item.figures.id)}?month={month}"
        rows.append(_row(item, locale, link))
    if report.total is not None:
        total = _row(report.total, locale, None)
        total["name"] = f"{total['name']} ({t('all', locale)})"
        total["rank"] = ""
        rows.append(total)
    table = (
        ui.table(columns=columns, rows=rows, row_key="key")
        .classes("w-full")
        .props("flat bordered dense hide-bottom data-testid=assessment-table")
    )
    # A township's name leads to its villages.
    table.add_slot(
        "body-cell-name",
        '<q-td :props="props"><a v-if="props.row.link" :href="props.row.link" '
        'class="text-teal-9">{{ props.value }}</a><span v-else>{{ props.value }}</span></q-td>',
    )


def _weights_editor(visit: Visit, weights: Weights) -> None:
    locale = visit.locale
    with ui.dialog() as dialog, ui.card().style("max-width: 420px"):
        ui.label(t("weights", locale)).classes("text-h6")
        inputs = {
            field: ui.number(
                WEIGHT_LABELS[field][1 if locale == "en" else 0],
                value=getattr(weights, field),
                min=0,
                max=1000,
                step=1,
            ).props(f"outlined dense data-testid=weight-{field}")
            for field in WEIGHT_FIELDS
        }

        async def save() -> None:
            try:
                chosen = Weights(**{f: float(i.value) for f, i in inputs.items()})
            except (TypeError, ValueError) as error:
                ui.notify(str(error), type="negative")
                return
            async with desk().pool.connection() as conn:
                await save_weights(conn, chosen, visit.principal.user_id)
            dialog.close()
            ui.navigate.reload()

        dialog_buttons(locale, dialog.close, save, "weights-save")
    ui.button(t("weights", locale), icon="tune", on_click=dialog.open).props(
        "outline dense no-caps color=teal-9 data-testid=weights-edit"
    )


def _months(now: datetime) -> list[str]:
    current = Month.containing(now)
    year, month = current.year, current.month
    offered = []
    for _ in range(MONTHS_OFFERED):
        offered.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return offered


async def _own_township(visit: Visit) -> str | None:
    """The township above a village officer's cell (their list of townships is empty)."""
    cell_id = visit.principal.cell_id
    async with desk().pool.connection() as conn:
        for _ in range(4):
            if cell_id is None:
                return None
            cell = await fetch_one(conn, "grid_cell", cell_id=cell_id)
            if cell is None:
                return None
            if cell["level"] == "township":
                return str(cell["id"])
            cell_id = cell["parent_id"]
    return None


async def _show(request: Request, township_id: str | None, month_text: str | None) -> Any:
    visit = await visit_of(request)
    if visit is None:
        return to_login(request)
    locale = visit.locale
    frame(visit.principal, locale, t("assessment", locale))
    now = datetime.now(UTC)
    try:
        month = Month.parse(month_text) if month_text else Month.containing(now)
    except ValueError:
        month = Month.containing(now)
    async with desk().pool.connection() as conn:
        try:
            if township_id is None:
                report = await township_report(conn, visit.principal, month)
            else:
                report = await village_report(conn, visit.principal, township_id, month)
        except UnknownTownship:
            report = None
        weights = (await current_weights(conn)).weights
    if report is not None and township_id is None and not report.rows:
        own = await _own_township(visit)
        if own is not None:  # a village officer: their village inside their township
            return RedirectResponse(f"/assessment/{quote(own)}?month={month}", status_code=303)
    here = f"/assessment/{quote(township_id)}" if township_id else "/assessment"
    with ui.column().classes("eg-page gap-3"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.select(
                _months(now),
                value=str(month),
                label=t("month_label", locale),
                on_change=lambda e: ui.navigate.to(f"{here}?month={e.value}"),
            ).props("dense outlined data-testid=assessment-month")
            if township_id is not None:
                ui.link(t("assessment", locale), f"/assessment?month={month}")
        if report is None:
            ui.label(t("not_found_township", locale)).classes("text-h6").props(
                "data-testid=not-found"
            )
            return None
        heading = report.township.name if report.township else t("townships_ranked", locale)
        ui.label(f"{heading} · {month}").classes("text-h6")
        ui.label(_formula(weights, locale)).classes("eg-muted").props(
            "data-testid=assessment-formula"
        )
        _table(report, visit, month)
        api = "/api/v1/assessment" + (f"/{quote(township_id)}" if township_id else "")
        with ui.row().classes("gap-2"):
            for fmt, key in (("csv", "export_csv"), ("xlsx", "export_xlsx")):
                ui.button(
                    t(key, locale),
                    icon="download",
                    on_click=lambda f=fmt: ui.navigate.to(f"{api}?month={month}&format={f}"),
                ).props(f"outline dense no-caps color=teal-9 data-testid=export-{fmt}")
            if visit.principal.is_admin:
                _weights_editor(visit, weights)
    return None


@ui.page("/assessment")
async def assessment_page(request: Request, month: str | None = None) -> RedirectResponse | None:
    """The townships of the user's area, ranked for the month."""
    result: RedirectResponse | None = await _show(request, None, month)
    return result


@ui.page("/assessment/{township_id}")
async def township_assessment_page(
    request: Request, township_id: str, month: str | None = None
) -> RedirectResponse | None:
    """The villages of one township, ranked for the month."""
    result: RedirectResponse | None = await _show(request, township_id, month)
    return result
