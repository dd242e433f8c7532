"""The audit trail: every write to the API is logged after it is answered, whatever the answer.

An ASGI middleware, so that it sees refusals (401, 403, 409, 422) as well as successes, and
never touches reads (the live feed streams for hours). What it records: who (the principal
the request authenticated as, or 'anonymous'), how (session or token), from which address,
the route and its parameters, the status, and what the endpoint chose to add
(``request.state.audit_detail``: a case action's name, a login's name — never a password).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from envgrid_cloud.api.sql import load
from envgrid_cloud.auth.principal import Principal

log = logging.getLogger("envgrid.api.audit")

READS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuditTrail:
    """Wraps the app; logs each non-read request under ``prefix`` once it has been answered."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in READS
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        answered: dict[str, int] = {}

        async def noting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            await self._record(scope, answered.get("status", 500))

    async def _record(self, scope: Scope, status: int) -> None:
        state: dict[str, Any] = scope.get("state", {})
        principal: Principal | None = state.get("principal")
        route = scope.get("route")
        template = route.path if isinstance(route, Route) else scope["path"]
        if not template.startswith(self.prefix):  # a router included with a prefix
            template = self.prefix + template
        action = f"{scope['method']} {template}"
        params = scope.get("path_params") or {}
        client = scope.get("client")
        entry = {
            "actor": principal.user_id if principal else "anonymous",
            "via": principal.via if principal else "none",
            "token_id": principal.token_id if principal else None,
            "address": client[0] if client else None,
            "action": action,
            "target": ",".join(f"{k}={v}" for k, v in params.items()) or None,
            "outcome": str(status),
            "detail": Jsonb(state.get("audit_detail") or {}),
        }
        try:
            async with scope["app"].state.pool.connection() as conn:
                await conn.execute(load("audit_insert"), entry)
        except (psycopg.Error, OSError) as error:  # the answer is sent; say it was not logged
            log.error("could not log %s by %s (%s): %s", action, entry["actor"], status, error)
