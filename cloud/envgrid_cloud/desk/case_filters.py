"""The case list's filters: state, severity, township, village, category, rule, assignee."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from envgrid_cloud.desk.case_list import Filters, filter_options
from envgrid_cloud.desk.context import desk
from envgrid_cloud.desk.i18n import CATEGORIES, SEVERITIES, STATES, t
from envgrid_cloud.desk.visit import Visit

Listener = Callable[[Filters], Awaitable[None]]


def _choices(table: dict[str, tuple[str, str]], locale: str) -> dict[str, str]:
    return {key: pair[1] if locale == "en" else pair[0] for key, pair in table.items()}


class FilterPanel:
    """A folding panel of selects; tells its listener the new filters on every change."""

    def __init__(self, visit: Visit, options: dict[str, dict[str, str]]) -> None:
        self.filters = Filters()
        self._listener: Listener | None = None
        locale = visit.locale
        with (
            ui.expansion(t("filters", locale), icon="filter_list")
            .classes("w-full")
            .props("dense")
            .props("data-testid=filters"),
            ui.row().classes("w-full gap-2"),
        ):
            self._multi("states", t("state", locale), _choices(STATES, locale))
            self._multi("severities", t("severity", locale), _choices(SEVERITIES, locale))
            self._single("township_id", t("township", locale), options["township"])
            self._single("village_id", t("village", locale), options["village"])
            self._single("category", t("category", locale), _choices(CATEGORIES, locale))
            self._single("rule_id", t("rule", locale), options["rule"])
            self._single("assignee_id", t("assignee", locale), options["assignee"])
            ui.switch(
                t("open_only", locale),
                value=True,
                on_change=lambda e: self._set("open_only", bool(e.value)),
            ).props("dense color=teal-9").props("data-testid=filter-open_only")

    def _multi(self, field: str, title: str, choices: dict[str, str]) -> None:
        ui.select(
            choices,
            label=title,
            multiple=True,
            on_change=lambda e: self._set(field, tuple(e.value or ())),
        ).props("dense outlined use-chips clearable").classes("min-w-[9rem]").props(
            f"data-testid=filter-{field}"
        )

    def _single(self, field: str, title: str, choices: dict[str, str]) -> None:
        ui.select(
            choices, label=title, with_input=True, clearable=True,
            on_change=lambda e: self._set(field, e.value or None),
        ).props(f"dense outlined data-testid=filter-{field}").classes("min-w-[9rem]")  # fmt: skip

    async def _set(self, field: str, value: Any) -> None:
        self.filters = self.filters.but(**{field: value})
        if self._listener is not None:
            await self._listener(self.filters)

    def on_change(self, listener: Listener) -> None:
        """Call ``listener`` with the filters whenever one changes."""
        self._listener = listener


async def filter_panel(visit: Visit) -> FilterPanel:
    """The panel, offering the townships, villages, rules and officers of the user's area."""
    async with desk().pool.connection() as conn:
        options = await filter_options(conn, visit.principal)
    return FilterPanel(visit, options)
