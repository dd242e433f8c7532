"""A signed-in visit to a desk page: who, in which language, from where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from envgrid_cloud.api.security import address_of
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.desk.i18n import locale_of
from envgrid_cloud.desk.signin import principal_of, session_of
from envgrid_common.clock import to_shanghai


@dataclass(frozen=True, slots=True)
class Visit:
    """The user at a page, their session (checked again before every move) and language."""

    principal: Principal
    session: str
    locale: str
    address: str | None

    def sees_site_cell(self, cell_id: str | None) -> bool:
        """Whether a site in ``cell_id`` lies in the user's area (an admin's is everywhere)."""
        cells = self.principal.cells
        return cells is None or (cell_id is not None and cell_id in cells)


async def visit_of(request: Request) -> Visit | None:
    """The visit of a page request, or None when nobody is signed in."""
    session = session_of(request)
    principal = await principal_of(session)
    if principal is None or session is None:
        return None
    locale = locale_of(request, principal.locale)
    return Visit(principal, session, locale, address_of(request))


def when(value: datetime | None, with_year: bool = False) -> str:
    """A time on Beijing's clock, short: ``12-06 10:30`` (``2026-12-06 10:30``)."""
    if value is None:
        return "—"
    return to_shanghai(value).strftime("%Y-%m-%d %H:%M" if with_year else "%m-%d %H:%M")


def number(value: float | None) -> str:
    """A reading as people read it: up to three significant decimals, no float noise."""
    if value is None:
        return "—"
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
