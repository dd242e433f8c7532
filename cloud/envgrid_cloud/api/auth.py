"""``/api/v1/auth``: sign in and out, who am I, change my password.

Signing in sets two cookies: the session (HttpOnly, SameSite=Lax, Secure with
``ENVGRID_AUTH_COOKIE_SECURE``) and the CSRF token a page sends back in ``X-CSRF-Token``.
Failed logins are throttled per account and per address (429 with Retry-After).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid
from envgrid_cloud.api.models.auth import LoginRequest, LoginResult, Me, PasswordChange
from envgrid_cloud.api.security import (
    CSRF_COOKIE,
    FORBIDDEN,
    SESSION_COOKIE,
    UNAUTHORIZED,
    CurrentUser,
    address_of,
    session_cookie,
    settings_of,
)
from envgrid_cloud.api.sql import fetch_all, fetch_one, load
from envgrid_cloud.auth import throttle
from envgrid_cloud.auth.passwords import (
    WeakPassword,
    hash_password,
    needs_rehash,
    verify_password,
)
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.auth.tokens import digest, new_csrf_token, new_session_secret

router = APIRouter(tags=["auth"])

WRONG = "wrong login name or password"
THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many failed logins for this account or address: wait (Retry-After)"}
}


def me(principal: Principal) -> Me:
    """The principal as the API shows it."""
    return Me(
        id=principal.user_id,
        login=principal.login,
        name=principal.name,
        role=principal.role,
        cell_id=principal.cell_id,
        locale=principal.locale,
        via=principal.via,
    )


async def _wait_needed(
    conn: AsyncConnection[DictRow], keys: list[str], limits: throttle.Limits
) -> float | None:
    rows = await fetch_all(conn, "auth_failures", keys=keys, window_s=limits.window_s)
    failures = {r["key"]: (int(r["failures"]), r["oldest"]) for r in rows}
    return throttle.retry_after(failures, limits, datetime.now(UTC))


@router.post(
    "/auth/login",
    summary="Sign in (登录)",
    responses={**UNAUTHORIZED, **THROTTLED},
)
async def login(
    request: Request, response: Response, conn: Conn, body: LoginRequest
) -> LoginResult:
    """Check the password; on success set the session cookie and return the CSRF token."""
    settings = settings_of(request)
    address = address_of(request)
    request.state.audit_detail = {"login": body.login}
    limits = throttle.Limits(
        settings.auth_login_max_failures,
        settings.auth_address_max_failures,
        settings.auth_login_window_s,
    )
    keys = throttle.keys(body.login, address)
    wait = await _wait_needed(conn, keys, limits)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed logins; try again in {wait:.0f} s",
            headers={"Retry-After": str(int(wait + 0.999))},
        )
    user = await fetch_one(conn, "auth_login_user", login=body.login)
    stored = user["password_hash"] if user is not None else None
    # Argon2 takes tens of milliseconds of CPU: off the event loop.
    ok = await asyncio.to_thread(verify_password, stored, body.password)
    if not ok or user is None or not user["active"]:
        await conn.execute(load("auth_failure_insert"), {"keys": keys})
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=WRONG, headers={"WWW-Authenticate": "Bearer"}
        )
    await conn.execute(load("auth_failures_clear"), {"key": keys[0]})
    if stored is not None and needs_rehash(stored):
        rehashed = await asyncio.to_thread(hash_password, body.password)
        await conn.execute(
            load("auth_password_set"),
            {"user_id": user["id"], "password_hash": rehashed, "keep_session": None},
        )
    secret, csrf = new_session_secret(), new_csrf_token()
    await conn.execute(
        load("auth_session_insert"),
        {
            "token_hash": digest(secret),
            "user_id": user["id"],
            "csrf_token": csrf,
            "address": address,
            "user_agent": (request.headers.get("user-agent") or "")[:300],
            "idle_s": settings.auth_session_idle_s,
        },
    )
    secure = settings.auth_cookie_secure
    response.set_cookie(
        SESSION_COOKIE, secret, httponly=True, samesite="lax", secure=secure, path="/"
    )
    # Readable by the page (not HttpOnly): it sends the value back in X-CSRF-Token.
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, samesite="lax", secure=secure, path="/")
    principal = Principal.from_row(
        {**user, "csrf_token": csrf, "token_id": None, "cells": ()}, "session"
    )
    request.state.principal = principal
    return LoginResult(
        user=me(principal),
        csrf_token=csrf,
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.auth_session_idle_s),
    )


@router.post(
    "/auth/logout",
    summary="Sign out (退出)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**UNAUTHORIZED, **FORBIDDEN},
)
async def logout(request: Request, response: Response, conn: Conn, principal: CurrentUser) -> None:
    """End this browser's session (a token is revoked with `envgrid tokens revoke` instead)."""
    session = await session_cookie(request)
    if principal.via == "session" and session:
        await conn.execute(load("auth_session_delete"), {"token_hash": digest(session)})
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/auth/me", summary="Who am I", responses=UNAUTHORIZED)
async def whoami(principal: CurrentUser) -> Me:
    """The signed-in user, or the owner of the token sent."""
    return me(principal)


@router.post(
    "/auth/password",
    summary="Change my password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **UNAUTHORIZED,
        **FORBIDDEN,
        422: {"description": "The current password is wrong, or the new one too weak"},
    },
)
async def change_password(
    request: Request, conn: Conn, principal: CurrentUser, body: PasswordChange
) -> None:
    """Set a new password; every other session of this user ends."""
    user = await fetch_one(conn, "auth_login_user", login=principal.login)
    stored = user["password_hash"] if user is not None else None
    if not await asyncio.to_thread(verify_password, stored, body.current_password):
        raise _invalid_password("current_password", "the current password is wrong")
    try:
        new_hash = await asyncio.to_thread(hash_password, body.new_password)
    except WeakPassword as weak:
        raise _invalid_password("new_password", str(weak)) from None
    session = await session_cookie(request)
    await conn.execute(
        load("auth_password_set"),
        {
            "user_id": principal.user_id,
            "password_hash": new_hash,
            "keep_session": digest(session) if session and principal.via == "session" else None,
        },
    )


def _invalid_password(field: str, message: str) -> Exception:
    return invalid(field, message, None, where="body")
