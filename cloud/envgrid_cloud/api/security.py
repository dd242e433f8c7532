"""Who may call the API: a signed-in browser (session cookie) or a machine (bearer token).

Every ``/api/v1`` route depends on :func:`authenticate` (``app.py`` adds it to each router but
the login's): 401 without valid credentials. A browser's writes also need its session's CSRF
token in ``X-CSRF-Token`` (403 without it): the cookie alone is sent by any page. The
principal found is kept on ``request.state`` for the audit trail.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from envgrid_cloud.api.database import Conn, pool_of
from envgrid_cloud.api.sql import fetch_one, load
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.auth.tokens import digest
from envgrid_cloud.settings import CloudSettings

SESSION_COOKIE = "envgrid_session"
CSRF_COOKIE = "envgrid_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A session's last use, and a token's, are written at most this often.
TOUCH_EVERY_S = 60.0
# A token's reads are logged at most this often per token and address (every write is logged).
TOKEN_AUDIT_EVERY_S = 600.0

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token (`envgrid tokens issue`): `Authorization: Bearer egt_…`",
)
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The session cookie set by `POST /api/v1/auth/login`; writes also need the "
    f"`{CSRF_HEADER}` header with the login's `csrf_token`",
)

# When each (token, address) was last logged for a read.
_token_reads: dict[tuple[int, str | None], float] = {}

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or the API token is unknown, revoked or expired"},
}
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Not allowed: the role does not permit it, or a browser's write "
        f"lacks the `{CSRF_HEADER}` header"
    },
}


def settings_of(request: Request) -> CloudSettings:
    """The settings the app was made with."""
    settings: CloudSettings = request.app.state.settings
    return settings


def address_of(request: Request) -> str | None:
    """The caller's address (the peer of the connection)."""
    return request.client.host if request.client else None


def unauthorized(detail: str) -> HTTPException:
    """401 with the challenge a client needs."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def authenticate(
    request: Request,
    conn: Conn,
    token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    session: Annotated[str | None, Depends(session_cookie)],
) -> Principal:
    """The principal of this request, or 401 (403 for a browser's write without its CSRF token)."""
    if token is not None:
        principal = await _by_token(request, conn, token.credentials)
    elif session:
        principal = await _by_session(request, conn, session)
    else:
        raise unauthorized(
            "sign in (POST /api/v1/auth/login), or send an API token: Authorization: Bearer …"
        )
    request.state.principal = principal
    return principal


async def _by_token(request: Request, conn: Conn, token: str) -> Principal:
    row = await fetch_one(conn, "auth_token", token_hash=digest(token))
    if row is None:
        raise unauthorized("the API token is unknown, revoked or expired")
    principal = Principal.from_row(row, "token")
    now, address = time.monotonic(), address_of(request)
    key = (row["token_id"], address)
    if now - _token_reads.get(key, -TOKEN_AUDIT_EVERY_S) >= TOKEN_AUDIT_EVERY_S:
        _token_reads[key] = now
        await conn.execute(load("auth_token_touch"), {"id": row["token_id"], "address": address})
        if request.method in SAFE_METHODS:  # writes are logged whole by the audit trail
            await conn.execute(
                load("audit_insert"),
                {
                    "actor": principal.user_id,
                    "via": "token",
                    "token_id": row["token_id"],
                    "address": address,
                    "action": "token used",
                    "target": request.url.path,
                    "outcome": "ok",
                    "detail": Jsonb({"method": request.method}),
                },
            )
    return principal


async def _by_session(request: Request, conn: Conn, session: str) -> Principal:
    principal = await session_principal(conn, session, settings_of(request))
    if principal is None:
        raise unauthorized("not signed in: the session has ended; sign in again")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent.encode(), (principal.csrf_token or "").encode()):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"a write from a browser needs the {CSRF_HEADER} header of its sign-in",
            )
    return principal


async def session_principal(
    conn: AsyncConnection[DictRow], session: str, settings: CloudSettings
) -> Principal | None:
    """The user a session cookie signs in, if the session is live (its use is noted); else None.

    The desk's pages use it too: they are reached by a browser's GET, with no CSRF to check.
    """
    token_hash = digest(session)
    row = await fetch_one(conn, "auth_session", token_hash=token_hash)
    if row is None:
        return None
    if time.time() - row["last_seen_at"].timestamp() >= TOUCH_EVERY_S:
        await conn.execute(
            load("auth_session_touch"),
            {
                "token_hash": token_hash,
                "idle_s": settings.auth_session_idle_s,
                "max_s": settings.auth_session_max_s,
            },
        )
    return Principal.from_row(row, "session")


async def authenticate_briefly(
    request: Request,
    token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    session: Annotated[str | None, Depends(session_cookie)],
) -> Principal:
    """:func:`authenticate` on a pooled connection given back at once: for a response that
    streams for hours (the live feed), which would otherwise hold one for all that time."""
    async with pool_of(request).connection() as conn:
        return await authenticate(request, conn, token, session)


CurrentUser = Annotated[Principal, Depends(authenticate)]


async def require_admin(principal: CurrentUser) -> Principal:
    """The principal, if an administrator; else 403."""
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only an administrator may do this")
    return principal


Admin = Annotated[Principal, Depends(require_admin)]
