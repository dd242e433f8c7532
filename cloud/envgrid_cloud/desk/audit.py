"""The desk's writes in the audit log, next to the API's (their action starts with ``DESK``)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from envgrid_cloud.api.sql import load
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.desk.context import desk

log = logging.getLogger("envgrid.desk")


async def audit(
    principal: Principal,
    action: str,
    target: str,
    outcome: str,
    detail: dict[str, Any],
    address: str | None,
) -> None:
    """Log one write made at the desk: who, what, on what, with which outcome (an HTTP status)."""
    entry = {
        "actor": principal.user_id,
        "via": principal.via,
        "token_id": principal.token_id,
        "address": address,
        "action": f"DESK {action}",
        "target": target,
        "outcome": outcome,
        "detail": Jsonb(detail),
    }
    try:
        async with desk().pool.connection() as conn:
            await conn.execute(load("audit_insert"), entry)
    except (psycopg.Error, OSError) as error:  # the write is done; say it was not logged
        log.error(
            "could not log the desk's %s on %s by %s: %s", action, target, entry["actor"], error
        )
