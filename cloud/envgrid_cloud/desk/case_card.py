"""One case in the live list: what, where, how urgent, and the one-tap moves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from html import escape
from typing import Any

from nicegui import ui

from envgrid_cloud.desk.case_list import is_overdue
from envgrid_cloud.desk.i18n import CATEGORIES, SEVERITIES, STATES, label, t
from envgrid_cloud.desk.visit import Visit, when

Handler = Callable[[int], Awaitable[None]]


def can_acknowledge(row: dict[str, Any], visit: Visit) -> bool:
    """Whether this user may sign for the case now (theirs, or its site in their area)."""
    return row["state"] == "dispatched" and (
        row["assignee_id"] == visit.principal.user_id or visit.sees_site_cell(row["site_cell_id"])
    )


def can_claim(row: dict[str, Any], visit: Visit) -> bool:
    """Whether this user may take a case nobody was found for."""
    return row["state"] == "raised" and visit.sees_site_cell(row["site_cell_id"])


def severity_badge(severity: str, locale: str) -> None:
    """The severity as a coloured tag."""
    ui.label(label(SEVERITIES, severity, locale)).classes(
        f"eg-sev-{severity} q-px-xs rounded-borders text-caption"
    )


def _badge(text: str, colour: str) -> str:
    # The markup Quasar's QBadge renders for ``color=…`` (``outline`` colours the text instead).
    return (
        '<div class="q-badge flex inline items-center no-wrap q-badge--single-line'
        f' {colour}" role="status">{escape(text)}</div>'
    )


def summary_html(row: dict[str, Any], locale: str, overdue: bool) -> str:
    """The card's text (severity, state, overdue, title link; place; times and assignee)."""
    case_id, state = int(row["id"]), row["state"]
    severity = row["severity"]
    tags = [
        f'<div class="eg-sev-{escape(severity)} q-px-xs rounded-borders text-caption">'
        f"{escape(label(SEVERITIES, severity, locale))}</div>",
        _badge(label(STATES, state, locale), "q-badge--outline text-teal-9"),
    ]
    if overdue:
        tags.append(_badge(t("overdue", locale), "bg-negative"))
    tags.append(
        f'<a class="nicegui-link eg-title text-black" href="/cases/{case_id}" target="_self">'
        f"#{case_id} {escape(str(row['title']))}</a>"
    )
    place = " · ".join(
        str(part)
        for part in (
            row["site_name"],
            row["village_name"] or row["township_name"],
            label(CATEGORIES, row["category"], locale),
        )
        if part
    )
    due = row["ack_due_at"] if state in ("raised", "dispatched") else None
    due_text = f"{t('ack_due', locale)} {when(due)}" if due else ""
    if not due and row.get("close_due_at") and state not in ("closed", "dismissed"):
        due_text = f"{t('close_due', locale)} {when(row['close_due_at'])}"
    times = " · ".join(
        part
        for part in (
            f"{t('raised_at', locale)} {when(row['raised_at'])}",
            due_text,
            row["assignee_name"] or "",
        )
        if part
    )
    return (
        f'<div class="nicegui-row row items-center gap-1">{"".join(tags)}</div>'
        f'<div class="eg-muted">{escape(place)}</div>'
        f'<div class="eg-muted">{escape(times)}</div>'
    )


def case_card(
    row: dict[str, Any],
    visit: Visit,
    now: datetime,
    *,
    selected: bool,
    on_select: Callable[[int, bool], None],
    on_acknowledge: Handler,
    on_claim: Handler,
) -> ui.card:
    """A card for the case; overdue ones in red, unacknowledged ones in amber."""
    locale, case_id = visit.locale, int(row["id"])
    overdue = is_overdue(row, now)
    classes = "eg-card"
    if overdue:
        classes += " eg-overdue"
    elif row["state"] in ("raised", "dispatched"):
        classes += " eg-unacked"
    card = ui.card().classes(classes).props(f"flat bordered data-case={case_id}")
    with card, ui.row().classes("w-full items-start no-wrap gap-2"):
        if can_acknowledge(row, visit):
            ui.checkbox(
                value=selected, on_change=lambda e: on_select(case_id, bool(e.value))
            ).props("dense").props(f"data-testid=select-{case_id}")
        # What the card says is one element: every open list builds each pushed card, so its
        # element count is the live push's cost (time and memory) times the lists open. The
        # text is escaped here, so the browser is given it as it is (no sanitiser needed).
        ui.html(summary_html(row, locale, overdue), sanitize=False).classes(
            "nicegui-column gap-0 col"
        )
        if can_acknowledge(row, visit):
            ui.button(t("acknowledge", locale), on_click=lambda: on_acknowledge(case_id)).props(
                "unelevated color=teal-9 no-caps"
            ).props(f"data-testid=ack-{case_id}")
        elif can_claim(row, visit):
            ui.button(t("claim", locale), on_click=lambda: on_claim(case_id)).props(
                "outline color=teal-9 no-caps"
            ).props(f"data-testid=claim-{case_id}")
    return card
