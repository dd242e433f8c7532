"""The moves this user may make on a case now, each a button; those that need words or photos
open a form (notes, reason, officer, photos from the phone's camera)."""

from __future__ import annotations

import asyncio
from base64 import b64encode
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import events, ui

from envgrid_cloud.cases.errors import CaseRefused
from envgrid_cloud.cases.model import Action, CaseState
from envgrid_cloud.cases.states import MOVES, allowed_from
from envgrid_cloud.desk.actions import move_case
from envgrid_cloud.desk.i18n import ACTIONS, label, t
from envgrid_cloud.desk.layout import dialog_buttons
from envgrid_cloud.desk.photos import MAX_UPLOAD, shrink_photo
from envgrid_cloud.desk.visit import Visit

ONE_TAP = frozenset({Action.ACKNOWLEDGE, Action.CLAIM})
WITH_PHOTOS = frozenset({Action.INSPECT, Action.RECTIFY, Action.REPORT})
# The step that moves the case on comes first; sending back, handing over and dismissing after.
PREFERENCE = (
    Action.ACKNOWLEDGE, Action.CLAIM, Action.DISPATCH, Action.INSPECT, Action.RECTIFY,
    Action.REPORT, Action.CLOSE, Action.REJECT, Action.REASSIGN, Action.DISMISS,
)  # fmt: skip
MAX_PHOTOS = 6

Done = Callable[[], Awaitable[None]]


def actions_for(
    visit: Visit, state: CaseState, assignee_id: str | None, site_cell_id: str | None
) -> list[Action]:
    """The moves the case's state allows that this user may make (role, and theirs or in area)."""
    principal = visit.principal
    if assignee_id != principal.user_id and not visit.sees_site_cell(site_cell_id):
        return []
    allowed = {a for a in allowed_from(state) if principal.role in MOVES[a].roles}
    return [a for a in PREFERENCE if a in allowed]


class ActionForm:
    """The form of one move: what it needs, then the move itself."""

    def __init__(
        self, visit: Visit, case_id: int, action: Action, officers: dict[str, str], done: Done
    ) -> None:
        self.visit, self.case_id, self.action, self.done = visit, case_id, action, done
        self.photos: list[dict[str, Any]] = []
        locale = visit.locale
        move = MOVES[action]
        with ui.dialog() as self.dialog, ui.card().classes("w-full").style("max-width: 480px"):
            ui.label(label(ACTIONS, action.value, locale)).classes("text-h6")
            self.assignee = (
                ui.select(officers, label=t("assignee", locale), with_input=True)
                .props("outlined dense data-testid=form-assignee")
                .classes("w-full")
                if action in (Action.DISPATCH, Action.REASSIGN)
                else None
            )
            self.reason = (
                ui.input(t("reason", locale)).props("outlined dense data-testid=form-reason")
                .classes("w-full")
                if move.needs_reason
                else None
            )  # fmt: skip
            self.notes = (
                ui.textarea(t("notes", locale))
                .props("outlined autogrow data-testid=form-notes")
                .classes("w-full")
            )
            self.previews = ui.row().classes("gap-2")
            if action in WITH_PHOTOS:
                ui.upload(
                    label=t("photo", locale),
                    multiple=True,
                    auto_upload=True,
                    max_files=MAX_PHOTOS,
                    max_file_size=MAX_UPLOAD,
                    on_upload=self._add_photo,
                ).props(
                    'accept="image/*" capture=environment flat bordered data-testid=form-photo'
                ).classes("w-full")
            dialog_buttons(locale, self.dialog.close, self.submit, "form-submit")

    async def _add_photo(self, event: events.UploadEventArguments) -> None:
        data = await event.file.read()
        try:
            shrunk, name = await asyncio.to_thread(shrink_photo, data, event.file.name)
        except CaseRefused as refused:
            ui.notify(str(refused), type="negative")
            return
        encoded = b64encode(shrunk).decode()
        self.photos.append({"name": name, "content_type": "image/jpeg", "data_base64": encoded})
        with self.previews:
            ui.image(f"data:image/jpeg;base64,{encoded}").classes("eg-thumb")

    async def submit(self) -> None:
        """Make the move; say why if it is refused (the form stays open to put it right)."""
        try:
            await move_case(
                self.visit.principal,
                self.visit.session,
                self.case_id,
                self.action,
                notes=(self.notes.value or "").strip() or None,
                attachments=self.photos,
                reason=(self.reason.value or "").strip() or None if self.reason else None,
                assignee_id=self.assignee.value if self.assignee else None,
                address=self.visit.address,
            )
        except CaseRefused as refused:
            ui.notify(str(refused), type="negative", multi_line=True, timeout=8000)
            return
        self.dialog.close()
        ui.notify(t("done", self.visit.locale), type="positive")
        await self.done()


def action_buttons(
    visit: Visit, case_id: int, actions: list[Action], officers: dict[str, str], done: Done
) -> None:
    """A button per move; a one-tap move is made at once, the others open their form."""
    locale = visit.locale
    with ui.row().classes("gap-2"):
        for index, action in enumerate(actions):
            style = "unelevated color=teal-9" if index == 0 else "outline color=teal-9"
            if action is Action.DISMISS:
                style = "outline color=negative"
            button = ui.button(label(ACTIONS, action.value, locale)).props(
                f"{style} no-caps data-testid=action-{action.value}"
            )
            if action in ONE_TAP:
                button.on_click(lambda a=action: _one_tap(visit, case_id, a, done))
            else:
                form = ActionForm(visit, case_id, action, officers, done)
                button.on_click(form.dialog.open)


async def _one_tap(visit: Visit, case_id: int, action: Action, done: Done) -> None:
    try:
        await move_case(visit.principal, visit.session, case_id, action, address=visit.address)
    except CaseRefused as refused:
        ui.notify(str(refused), type="negative", multi_line=True, timeout=8000)
        return
    ui.notify(t("done", visit.locale), type="positive")
    await done()
