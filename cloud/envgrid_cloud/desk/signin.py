"""Who is at the desk: the session cookie the sign-in set, read as the API reads it."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse

from envgrid_cloud.api.security import SESSION_COOKIE, session_principal
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.desk.context import desk

LOGIN_PATH = "/login"


async def principal_of(session: str | None) -> Principal | None:
    """The user a session cookie signs in, or None when there is none or it has ended."""
    if not session:
        return None
    the_desk = desk()
    async with the_desk.pool.connection() as conn:
        return await session_principal(conn, session, the_desk.settings)


def session_of(request: Request) -> str | None:
    """The session cookie of a page's request."""
    return request.cookies.get(SESSION_COOKIE)


def to_login(request: Request) -> RedirectResponse:
    """Send a visitor who is not signed in to the sign-in page, to come back afterwards."""
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(back, safe='')}", status_code=303)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this desk only (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
