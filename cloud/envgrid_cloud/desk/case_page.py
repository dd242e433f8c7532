"""``/cases/{id}``: the case file (一案一档): what happened, where, by which rule and limit, every
step with who and when, the readings around it, and the moves this user may make now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from nicegui.client import Client

from envgrid_cloud.api.cases import get_case
from envgrid_cloud.api.deliveries import case_deliveries
from envgrid_cloud.api.models.cases import AttachmentOut, CaseEvent, CaseFile
from envgrid_cloud.api.models.deliveries import CaseDeliveries
from envgrid_cloud.cases.errors import CaseRefused
from envgrid_cloud.cases.model import Action
from envgrid_cloud.desk.actions import move_case
from envgrid_cloud.desk.case_actions import action_buttons, actions_for
from envgrid_cloud.desk.case_card import severity_badge
from envgrid_cloud.desk.case_chart import case_chart_options, metric_title
from envgrid_cloud.desk.case_list import filter_options, is_overdue, load_case
from envgrid_cloud.desk.context import desk
from envgrid_cloud.desk.i18n import ACTIONS, CATEGORIES, STATES, label, t
from envgrid_cloud.desk.layout import frame
from envgrid_cloud.desk.live import follow_cases
from envgrid_cloud.desk.signin import to_login
from envgrid_cloud.desk.silences_view import active_silences, silence_button, silences_card
from envgrid_cloud.desk.sql import fetch_all
from envgrid_cloud.desk.visit import Visit, number, visit_of, when

MAX_CASE_ID = 2**63 - 1


def _is_image(item: AttachmentOut) -> bool:
    return item.content_type.startswith("image/")


def attachments_view(items: list[AttachmentOut]) -> None:
    """Thumbnails of photos (tap: the photo itself), links to other files."""
    with ui.row().classes("gap-2"):
        for item in items:
            with ui.link(target=item.url, new_tab=True).props(f'title="{item.name}"'):
                if _is_image(item):
                    ui.image(item.url).classes("eg-thumb").props(
                        f'alt="{item.name}" no-spinner data-testid=thumbnail'
                    )
                else:
                    ui.chip(item.name, icon="attach_file").props("outline")


class CaseFileView:
    """The file of one case, drawn afresh when the case changes."""

    def __init__(self, visit: Visit, case_id: int) -> None:
        self.visit, self.case_id = visit, case_id
        self.body = ui.column().classes("eg-page gap-3")
        self.shown_updated_at: datetime | None = None

    def shows(self, updated_at: object) -> bool:
        """Whether the file on the page already shows the case as of ``updated_at`` (feed text)."""
        if self.shown_updated_at is None or not isinstance(updated_at, str):
            return False
        try:
            return datetime.fromisoformat(updated_at) <= self.shown_updated_at
        except ValueError:
            return False

    async def render(self) -> bool:
        """Draw the file; False when the user may not see the case (or it does not exist)."""
        the_desk = desk()
        async with the_desk.pool.connection() as conn:
            try:
                file = await get_case(conn, self.visit.principal, self.case_id)
            except HTTPException:
                return False
            row = await load_case(conn, self.case_id)
            actors = {e.actor for e in file.events}
            names = {
                r["id"]: r["name"]
                for r in await fetch_all(conn, "desk_user_names", ids=sorted(actors))
            }
            options = await filter_options(conn, self.visit.principal)
            officers = options["assignee"]
            deliveries = await case_deliveries(conn, self.visit.principal, self.case_id)
            township_names = {
                r["id"]: r["name"]
                for r in await fetch_all(
                    conn, "desk_cell_names", ids=[n.township_id for n in file.notifications]
                )
            }
        if row is None:
            return False
        self.shown_updated_at = row["updated_at"]
        silences = await active_silences(self.visit, None)
        self.body.clear()
        with self.body:
            self._summary(file, row)
            case_silences = [s for s in silences if s.site_id in (None, file.case.site_id)]
            await silences_card(self.visit, case_silences, self.render_again, file.case.rule_id)
            actions = actions_for(
                self.visit, file.case.state, file.case.assignee_id, row["site_cell_id"]
            )
            with ui.row().classes("w-full items-center gap-2"):
                if actions:
                    action_buttons(self.visit, self.case_id, actions, officers, self.render_again)
                if file.case.source == "rule" and file.case.state.value not in (
                    "closed",
                    "dismissed",
                ):
                    silence_button(self.visit, self.render_again, rule_id=file.case.rule_id)
            self._chart(file)
            self._snapshot(file)
            self._timeline(file.events, names)
            self._comment_box()
            self._told(file, deliveries, township_names)
        return True

    async def render_again(self) -> None:
        """Redraw after a move here or elsewhere."""
        await self.render()

    def _summary(self, file: CaseFile, row: dict[str, Any]) -> None:
        case, locale = file.case, self.visit.locale
        with ui.card().classes("w-full").props("flat bordered data-testid=case-summary"):
            with ui.row().classes("items-center gap-1"):
                severity_badge(case.severity.value, locale)
                ui.badge(label(STATES, case.state.value, locale)).props(
                    "outline color=teal-9 data-testid=case-state"
                )
                if is_overdue(row, datetime.now(UTC)):
                    ui.badge(t("overdue", locale)).props("color=negative")
                if case.escalation_level:
                    ui.badge(t("escalated", locale, n=case.escalation_level)).props(
                        "color=orange-9"
                    )
            ui.label(f"#{case.id} {case.title}").classes("text-h6 eg-title")
            place = [row["site_name"], row["village_name"] or "", row["township_name"]]
            with ui.row().classes("items-center gap-1"):
                ui.link(" · ".join(p for p in place if p), f"/sites/{case.site_id}").props(
                    "data-testid=case-site"
                )
                ui.label(f"· {label(CATEGORIES, row['category'], locale)}").classes("eg-muted")
            source = "source_officer" if case.source == "officer" else "source_rule"
            facts = [
                (t("raised_at", locale), when(case.raised_at, with_year=True)),
                (t("first_seen", locale), when(case.first_seen_at)),
                (t("assignee", locale), row["assignee_name"] or "—"),
                (t("ack_due", locale), when(case.ack_due_at)),
                (t("close_due", locale), when(case.close_due_at)),
                (t("occurrences", locale), str(case.occurrences)),
            ]
            if case.metric:
                facts += [
                    (metric_title(case.metric, locale), ""),
                    (t("last_value", locale), number(case.last_value)),
                    (t("peak", locale), number(case.peak_value)),
                ]
            if case.cleared_at:
                facts.append((t("cleared", locale), when(case.cleared_at)))
            with ui.grid(columns=2).classes("gap-x-4 gap-y-0 eg-muted").style("max-width: 28rem"):
                for name, value in facts:
                    ui.label(name)
                    ui.label(value)
            ui.label(t(source, locale)).classes("eg-muted")
            self._basis(case.rule_id, case.detail)

    def _basis(self, rule_id: str, detail: dict[str, Any]) -> None:
        locale = self.visit.locale
        shown = {k: v for k, v in detail.items() if v is not None and k != "direction"}
        if not shown and rule_id.startswith("officer:"):
            return
        with (
            ui.expansion(t("basis", locale), icon="gavel", value=True)
            .classes("w-full")
            .props("dense data-testid=case-basis")
        ):
            ui.label(f"{t('rule_id', locale)}: {rule_id}")
            direction = detail.get("direction")
            if "limit" in detail:
                words = t(f"direction_{direction}", locale) if direction else ""
                ui.label(f"{t('limit', locale)}: {number(detail['limit'])} {words}").props(
                    "data-testid=case-limit"
                )
            for key in ("basis", "standard", "table"):
                if key in shown:
                    ui.label(str(shown[key])).classes("text-weight-medium")

    def _chart(self, file: CaseFile) -> None:
        locale = self.visit.locale
        options = case_chart_options(file, locale)
        with ui.card().classes("w-full").props("flat bordered"):
            ui.label(t("readings", locale)).classes("text-subtitle1")
            if options is None:
                ui.label(t("no_readings", locale)).classes("eg-muted")
                return
            ui.echart(options).classes("w-full").style("height: 260px").props(
                "data-testid=case-chart"
            )

    def _snapshot(self, file: CaseFile) -> None:
        """The cameras' snapshots of the case's incidents; else a photo it was raised with."""
        locale = self.visit.locale
        # (image, caption): the browser loads each image with the desk's session cookie.
        shown = [(s.url, f"{s.node_id} · {when(s.received_at)}") for s in file.snapshots]
        if not shown:
            photos = [a for e in file.events[:1] for a in e.attachments if _is_image(a)]
            link = file.case.detail.get("snapshot_url")
            if photos:
                shown = [(photos[0].url, "")]
            elif isinstance(link, str):
                shown = [(link, "")]
        if not shown:
            return
        with ui.card().classes("w-full").props("flat bordered data-testid=case-snapshot"):
            ui.label(t("snapshot", locale)).classes("text-subtitle1")
            with ui.row().classes("w-full gap-2"):
                for url, caption in shown:
                    with ui.column().classes("gap-0").style("width: 480px; max-width: 100%"):
                        with ui.link(target=url, new_tab=True):
                            # A plain <img>: it takes the picture's own proportions (a q-img
                            # without a fixed ratio collapses to no height in a column).
                            ui.element("img").classes("eg-snapshot w-full").props(
                                f'src="{url}" alt="{caption or t("snapshot", locale)}" '
                                "data-testid=snapshot-image"
                            )
                        if caption:
                            ui.label(caption).classes("eg-muted text-caption")

    def _timeline(self, events: list[CaseEvent], names: dict[str, str]) -> None:
        locale = self.visit.locale
        with ui.card().classes("w-full").props("flat bordered"):
            ui.label(t("timeline", locale)).classes("text-subtitle1")
            with ui.timeline(side="right").props("dense layout=dense data-testid=timeline"):
                for event in events:
                    who = names.get(event.actor) or (
                        t("system", locale) if event.actor == "system" else event.actor
                    )
                    title = label(ACTIONS, event.action, locale)
                    if event.to_state and event.to_state != event.from_state:
                        title += f" → {label(STATES, event.to_state.value, locale)}"
                    with ui.timeline_entry(
                        title=title, subtitle=f"{when(event.at, with_year=True)} · {who}"
                    ).props(f"data-testid=event-{event.action}"):
                        if event.notes:
                            ui.label(event.notes).classes("eg-title text-weight-regular")
                        reason = event.detail.get("reason")
                        if reason:
                            ui.label(f"{t('reason', locale)}: {reason}")
                        if event.attachments:
                            attachments_view(event.attachments)

    def _told(
        self, file: CaseFile, deliveries: CaseDeliveries, township_names: dict[str, str]
    ) -> None:
        """Who was told: townships downstream, and every notification with its attempts."""
        locale = self.visit.locale
        if not file.notifications and not deliveries.items:
            return
        with ui.card().classes("w-full").props("flat bordered data-testid=case-notifications"):
            ui.label(t("notifications", locale)).classes("text-subtitle1")
            if file.notifications:
                told = "、".join(
                    township_names.get(n.township_id, n.township_id) for n in file.notifications
                )
                ui.label(f"{t('told_townships', locale)}: {told}")
            for item in deliveries.items:
                state = t(f"delivery_{item.state}", locale)
                event = label(ACTIONS, item.event, locale)
                line = f"{item.channel_name} · {event} · {state}"
                line += f" · {t('attempts', locale, n=item.attempts)}"
                if item.sent_at:
                    line += f" · {when(item.sent_at)}"
                with ui.row().classes("items-center gap-1"):
                    failed = item.last_error and item.state != "sent"
                    ui.icon("error" if failed else "check_circle").classes(
                        "text-negative" if failed else "text-positive"
                    )
                    ui.label(line).classes("eg-muted")
                if item.last_error:
                    ui.label(item.last_error).classes("text-negative text-caption")

    def _comment_box(self) -> None:
        locale = self.visit.locale
        with ui.row().classes("w-full items-end no-wrap gap-2"):
            box = (
                ui.textarea(placeholder=t("write_comment", locale))
                .props("outlined autogrow dense data-testid=comment")
                .classes("col")
            )

            async def send() -> None:
                text = (box.value or "").strip()
                if not text:
                    return
                try:
                    await move_case(
                        self.visit.principal,
                        self.visit.session,
                        self.case_id,
                        Action.COMMENT,
                        notes=text,
                        address=self.visit.address,
                    )
                except CaseRefused as refused:
                    ui.notify(str(refused), type="negative")
                    return
                await self.render()

            ui.button(t("comment", locale), icon="send", on_click=send).props(
                "unelevated color=teal-9 no-caps data-testid=comment-send"
            )


async def _hear(view: CaseFileView, event: str, data: str) -> None:
    body: dict[str, Any] = orjson.loads(data)
    # Every move sets the case's updated_at. A page that made the move has drawn it already:
    # drawing it again when the feed brings it would replace the buttons under the next tap.
    if int(body.get("id", 0)) == view.case_id and not view.shows(body.get("updated_at")):
        await view.render()


@ui.page("/cases/{case_id}")
async def case_page(request: Request, client: Client, case_id: str) -> RedirectResponse | None:
    """One case's file, for a user who may see it; "not found" for anybody else."""
    visit = await visit_of(request)
    if visit is None:
        return to_login(request)
    locale = visit.locale
    frame(visit.principal, locale, f"#{case_id}")
    number_ = int(case_id) if case_id.isdigit() and int(case_id) <= MAX_CASE_ID else None
    view = CaseFileView(visit, number_ or 0)
    if number_ is None or not await view.render():
        with view.body:
            ui.label(t("not_found", locale)).classes("text-h6 q-pa-md").props(
                "data-testid=not-found"
            )
        return None
    follow_cases(client, view.body, lambda e, d: _hear(view, e, d), view.render_again)
    return None
