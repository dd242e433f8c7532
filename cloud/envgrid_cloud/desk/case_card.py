"""One case in the live list: what, where, how urgent, and the one-tap moves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
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
        with ui.column().classes("gap-0 col"):
            with ui.row().classes("items-center gap-1"):
                severity_badge(row["severity"], locale)
                ui.badge(label(STATES, row["state"], locale)).props("outline color=teal-9")
                if overdue:
                    ui.badge(t("overdue", locale)).props("color=negative")
                ui.link(f"#{case_id} {row['title']}", f"/cases/{case_id}").classes(
                    "eg-title text-black"
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
            ui.label(place).classes("eg-muted")
            due = row["ack_due_at"] if row["state"] in ("raised", "dispatched") else None
            due_text = f"{t('ack_due', locale)} {when(due)}" if due else ""
            if not due and row.get("close_due_at") and row["state"] not in ("closed", "dismissed"):
                due_text = f"{t('close_due', locale)} {when(row['close_due_at'])}"
            ui.label(
                " · ".join(
                    part
                    for part in (
                        f"{t('raised_at', locale)} {when(row['raised_at'])}",
                        due_text,
                        row["assignee_name"] or "",
                    )
                    if part
                )
            ).classes("eg-muted")
        if can_acknowledge(row, visit):
            ui.button(t("acknowledge", locale), on_click=lambda: on_acknowledge(case_id)).props(
                "unelevated color=teal-9 no-caps"
            ).props(f"data-testid=ack-{case_id}")
        elif can_claim(row, visit):
            ui.button(t("claim", locale), on_click=lambda: on_claim(case_id)).props(
                "outline color=teal-9 no-caps"
            ).props(f"data-testid=claim-{case_id}")
    return card
