"""``/``: the live case list. New and changed cases are pushed in as they happen (no reload)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from nicegui.client import Client

from envgrid_cloud.api.channels import list_channels
from envgrid_cloud.cases.errors import CaseRefused
from envgrid_cloud.cases.model import Action
from envgrid_cloud.desk.actions import move_case
from envgrid_cloud.desk.case_card import can_acknowledge, case_card
from envgrid_cloud.desk.case_filters import filter_panel
from envgrid_cloud.desk.case_list import PAGE, Filters, load_cases, matches, sort_key
from envgrid_cloud.desk.context import desk
from envgrid_cloud.desk.i18n import t
from envgrid_cloud.desk.layout import frame
from envgrid_cloud.desk.live import follow_cases
from envgrid_cloud.desk.signin import to_login
from envgrid_cloud.desk.sound import ALERT_JS, sound_switch
from envgrid_cloud.desk.visit import Visit, visit_of

log = logging.getLogger("envgrid.desk")


class CaseListView:
    """The cards of one open list, kept in order as changes arrive."""

    def __init__(self, visit: Visit) -> None:
        self.visit = visit
        self.filters = Filters()
        self.limit = PAGE
        self.rows: dict[int, dict[str, Any]] = {}
        self.cards: dict[int, ui.card] = {}
        self.selected: set[int] = set()
        self.container = ui.column().classes("w-full gap-2")
        self.count_label: ui.label
        self.batch_button: ui.button
        self.more_button: ui.button
        self.empty_label: ui.label

    # ---- loading ---------------------------------------------------------------------------
    async def reload(self) -> None:
        """Read the list afresh (filters changed, "more", or the feed asks for a resync)."""
        async with desk().pool.connection() as conn:
            rows, total = await load_cases(conn, self.visit.principal, self.filters, self.limit)
        self.container.clear()
        self.rows = {int(r["id"]): dict(r) for r in rows}
        self.cards = {}
        self.selected &= set(self.rows)
        now = datetime.now(UTC)
        with self.container:
            for row in rows:
                self.cards[int(row["id"])] = self._card(row, now)
        self._show_counts(total)

    def _show_counts(self, total: int | None = None) -> None:
        shown = len(self.rows)
        total = max(total if total is not None else shown, shown)
        locale = self.visit.locale
        self.count_label.set_text(
            f"{shown} / {total}" if locale == "en" else f"显示 {shown} 件，共 {total} 件"
        )
        self.more_button.set_visibility(total > shown)
        self.empty_label.set_visibility(shown == 0)
        self._show_selection()

    def _card(self, row: dict[str, Any], now: datetime) -> ui.card:
        return case_card(
            row,
            self.visit,
            now,
            selected=int(row["id"]) in self.selected,
            on_select=self.select,
            on_acknowledge=self.acknowledge_one,
            on_claim=self.claim,
        )

    # ---- live changes ----------------------------------------------------------------------
    def apply(self, row: dict[str, Any] | None, case_id: int) -> bool:
        """Put a changed case where it belongs (or take it off); whether it is now shown."""
        old = self.cards.pop(case_id, None)
        if old is not None:
            old.delete()
            self.rows.pop(case_id, None)
        if row is None or not matches(row, self.filters):
            self.selected.discard(case_id)
            self._show_counts()
            return False
        if not can_acknowledge(row, self.visit):
            self.selected.discard(case_id)
        self.rows[case_id] = row
        now = datetime.now(UTC)
        order = sorted(self.rows, key=lambda i: sort_key(self.rows[i], now))
        with self.container:
            card = self._card(row, now)
        card.move(target_index=order.index(case_id))
        self.cards[case_id] = card
        if old is None:
            card.classes("eg-new")
        self._show_counts()
        return True

    # ---- moves -----------------------------------------------------------------------------
    def select(self, case_id: int, chosen: bool) -> None:
        """Tick or untick a case for acknowledging several at once."""
        if chosen:
            self.selected.add(case_id)
        else:
            self.selected.discard(case_id)
        self._show_selection()

    def select_all(self) -> None:
        """Tick every shown case this user may acknowledge."""
        self.selected = {i for i, r in self.rows.items() if can_acknowledge(r, self.visit)}
        for case_id in sorted(self.selected):
            self.apply(self.rows[case_id], case_id)  # redrawn ticked

    def _show_selection(self) -> None:
        n = len(self.selected)
        self.batch_button.set_text(t("ack_selected", self.visit.locale, n=n))
        self.batch_button.set_enabled(n > 0)

    async def acknowledge_one(self, case_id: int) -> None:
        """One tap: sign for the case."""
        await self._move([case_id], Action.ACKNOWLEDGE)

    async def acknowledge_selected(self) -> None:
        """Sign for every ticked case."""
        await self._move(sorted(self.selected), Action.ACKNOWLEDGE)
        self.selected.clear()
        self._show_selection()

    async def claim(self, case_id: int) -> None:
        """Take a case nobody was found for."""
        await self._move([case_id], Action.CLAIM)

    async def _move(self, case_ids: list[int], action: Action) -> None:
        done, refusals = 0, []
        for case_id in case_ids:
            try:
                await move_case(
                    self.visit.principal,
                    self.visit.session,
                    case_id,
                    action,
                    address=self.visit.address,
                )
                done += 1
            except CaseRefused as refused:
                refusals.append(f"#{case_id}: {refused}")
        locale = self.visit.locale
        # The list's slot: the card whose button was tapped may have been redrawn meanwhile.
        with self.container:
            if done:
                acknowledged = t("acknowledged_n", locale, n=done)
                ui.notify(
                    acknowledged if action is Action.ACKNOWLEDGE else t("done", locale),
                    type="positive",
                )
            for refusal in refusals:
                ui.notify(refusal, type="negative", multi_line=True, timeout=8000)


async def _hear(view: CaseListView, event: str, data: str) -> None:
    the_desk = desk()
    if not await the_desk.live_scope.allows(view.visit.principal, event, data):
        return
    body: dict[str, Any] = orjson.loads(data)
    case_id = int(body["id"])
    row = await the_desk.live_cases.row(case_id, str(body.get("updated_at")))
    shown = view.apply(dict(row) if row is not None else None, case_id)
    if shown and body.get("event") == "raised":
        critical = body.get("severity") == "critical"
        ui.notify(
            f"{t('new_case', view.visit.locale)}: #{case_id} {body.get('title', '')}",
            type="negative" if critical else "info",
            position="top",
        )
        if critical:
            ui.run_javascript(ALERT_JS)


async def failing_channels_banner(visit: Visit) -> None:
    """Say which notification channels of the user's area keep failing (people are not told)."""
    async with desk().pool.connection() as conn:
        failing = await list_channels(conn, visit.principal, failing=True, kind=None, enabled=None)
    if failing:
        names = "、".join(c.name for c in failing)
        with (
            ui.row()
            .classes("w-full items-center gap-2 q-pa-sm bg-red-1 text-negative")
            .props("data-testid=failing-channels")
        ):
            ui.icon("notifications_off")
            ui.label(t("failing_channels", visit.locale, names=names))


@ui.page("/")
async def cases_page(request: Request, client: Client) -> RedirectResponse | None:
    """The live case list of the user's area."""
    visit = await visit_of(request)
    if visit is None:
        return to_login(request)
    locale = visit.locale
    frame(visit.principal, locale, t("cases", locale))
    with ui.column().classes("eg-page gap-2"):
        await failing_channels_banner(visit)
        with ui.row().classes("w-full items-center gap-2"):
            ui.icon("sensors").classes("text-teal-9").tooltip(t("live", locale))
            count_label = ui.label().classes("eg-muted").props("data-testid=case-count")
            ui.space()
            sound_switch(locale)
        panel = await filter_panel(visit)
        with ui.row().classes("w-full items-center gap-2"):
            select_all = (
                ui.button(t("select_unacked", locale), icon="done_all")
                .props("outline dense no-caps color=teal-9")
                .props("data-testid=select-all")
            )
            batch = (
                ui.button(t("ack_selected", locale, n=0), icon="task_alt")
                .props("unelevated dense no-caps color=teal-9")
                .props("data-testid=ack-selected")
            )
        empty = ui.label(t("no_cases", locale)).classes("eg-muted q-pa-md")
        view = CaseListView(visit)
        view.count_label, view.batch_button, view.empty_label = count_label, batch, empty
        view.more_button = (
            ui.button(t("more", locale), on_click=lambda: _more(view))
            .props("flat no-caps color=teal-9")
            .props("data-testid=more")
        )
    select_all.on_click(view.select_all)
    batch.on_click(view.acknowledge_selected)

    async def refilter(filters: Filters) -> None:
        view.filters, view.limit = filters, PAGE
        await view.reload()

    panel.on_change(refilter)
    await view.reload()
    follow_cases(client, view.container, lambda e, d: _hear(view, e, d), view.reload)
    return None


async def _more(view: CaseListView) -> None:
    view.limit += PAGE
    await view.reload()
