"""Quiet periods (静默) at the desk: a site's or a rule's, with who set them and until when; a
reviewer or admin sets one with a reason, or lifts it. Cases are still raised; notifications
wait for the silence to end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException
from nicegui import ui

from envgrid_cloud.api.models.silences import Silence, SilenceCreate
from envgrid_cloud.api.silences import create_silence, lift_silence, list_silences
from envgrid_cloud.cases.model import Role
from envgrid_cloud.desk.audit import audit
from envgrid_cloud.desk.context import desk
from envgrid_cloud.desk.i18n import t
from envgrid_cloud.desk.layout import dialog_buttons
from envgrid_cloud.desk.sql import fetch_all
from envgrid_cloud.desk.visit import Visit, when

HOURS = (1, 2, 4, 8, 24, 72, 168)  # choices of how long

Redraw = Callable[[], Awaitable[None]]


def may_silence(visit: Visit) -> bool:
    """Reviewers and administrators set and lift silences."""
    return visit.principal.role in (Role.REVIEWER, Role.ADMIN)


def _detail(error: HTTPException) -> str:
    detail = error.detail
    if isinstance(detail, list):  # a validation error: its messages
        return "; ".join(str(d.get("msg", d)) for d in detail if isinstance(d, dict))
    return str(detail)


async def active_silences(visit: Visit, site_id: str | None) -> list[Silence]:
    """The silences in force that concern the user's area (and this site, if given)."""
    async with desk().pool.connection() as conn:
        return await list_silences(conn, visit.principal, active=True, site_id=site_id, limit=50)


async def silences_card(
    visit: Visit, silences: list[Silence], redraw: Redraw, rule_id: str | None = None
) -> None:
    """The silences in force, each with its reason, setter and end; lift for those who may."""
    relevant = [s for s in silences if rule_id is None or s.rule_id in (None, rule_id)]
    if not relevant:
        return
    locale = visit.locale
    ids = sorted({s.set_by for s in relevant})
    async with desk().pool.connection() as conn:
        names = {r["id"]: r["name"] for r in await fetch_all(conn, "desk_user_names", ids=ids)}
    with ui.card().classes("w-full bg-amber-1").props("flat bordered data-testid=silences"):
        for silence in relevant:
            what = silence.site_id or f"{t('rule', locale)} {silence.rule_id}"
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.icon("notifications_paused").classes("text-amber-9")
                ui.label(
                    t(
                        "silenced",
                        locale,
                        what=what,
                        until=when(silence.until),
                        who=names.get(silence.set_by, silence.set_by),
                        reason=silence.reason,
                    )
                ).classes("col")
                if may_silence(visit):
                    ui.button(
                        t("lift", locale),
                        on_click=lambda s=silence.id: _lift(visit, s, redraw),
                    ).props(f"flat dense no-caps color=teal-9 data-testid=lift-{silence.id}")


async def _lift(visit: Visit, silence_id: int, redraw: Redraw) -> None:
    outcome = "200"
    try:
        async with desk().pool.connection() as conn:
            await lift_silence(conn, visit.principal, silence_id)
    except HTTPException as error:
        outcome = str(error.status_code)
        ui.notify(_detail(error), type="negative")
    finally:
        await audit(
            visit.principal,
            "/silences/{silence_id}/lift",
            f"silence_id={silence_id}",
            outcome,
            {},
            visit.address,
        )
    if outcome == "200":
        await redraw()


def silence_button(
    visit: Visit, redraw: Redraw, *, site_id: str | None = None, rule_id: str | None = None
) -> None:
    """A button opening the form to silence this site (or this rule in the user's area)."""
    if not may_silence(visit):
        return
    locale = visit.locale
    with ui.dialog() as dialog, ui.card().classes("w-full").style("max-width: 420px"):
        ui.label(t("silence_site" if site_id else "silence_rule", locale)).classes("text-h6")
        hours = ui.select(
            {h: t("hours", locale, n=h) for h in HOURS}, value=8, label=t("how_long", locale)
        ).props("outlined dense data-testid=silence-hours")
        reason = ui.input(t("reason", locale)).props("outlined dense data-testid=silence-reason")

        async def save() -> None:
            until = datetime.now(UTC) + timedelta(hours=int(hours.value))
            outcome = "201"
            try:
                body = SilenceCreate(
                    site_id=site_id, rule_id=None if site_id else rule_id,
                    until=until, reason=(reason.value or "").strip(),
                )  # fmt: skip
                async with desk().pool.connection() as conn:
                    await create_silence(conn, visit.principal, body)
            except HTTPException as error:
                outcome = str(error.status_code)
                ui.notify(_detail(error), type="negative")
            except ValueError as error:  # the form itself: no reason given
                outcome = "422"
                ui.notify(str(error), type="negative", multi_line=True)
            finally:
                await audit(
                    visit.principal, "/silences", f"site_id={site_id}" if site_id
                    else f"rule_id={rule_id}", outcome, {"hours": hours.value}, visit.address,
                )  # fmt: skip
            if outcome == "201":
                dialog.close()
                await redraw()

        dialog_buttons(locale, dialog.close, save, "silence-save")
    ui.button(t("silence", locale), icon="notifications_paused", on_click=dialog.open).props(
        "outline dense no-caps color=amber-9 data-testid=silence"
    )
