"""Moves made at the desk: checked and recorded as the API does them, as the signed-in user.

The same case store (``cases.transitions.act``) in a thread, the same area check, and an entry
in the audit log like the API's own (with ``desk`` in its action).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from envgrid_cloud.api import scope
from envgrid_cloud.api.sql import fetch_one
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.cases.errors import CaseRefused, IllegalMove, Invalid, NotFound, NotPermitted
from envgrid_cloud.cases.model import Action
from envgrid_cloud.cases.records import Row
from envgrid_cloud.cases.transitions import act
from envgrid_cloud.desk.audit import audit
from envgrid_cloud.desk.context import desk
from envgrid_cloud.desk.signin import principal_of

OUTCOMES: dict[type[CaseRefused], str] = {
    IllegalMove: "409",
    NotPermitted: "403",
    NotFound: "404",
    Invalid: "422",
}


class SignedOut(CaseRefused):
    """The page's session ended (signed out elsewhere, expired): sign in again."""


async def move_case(
    principal: Principal,
    session: str,
    case_id: int,
    action: Action,
    *,
    notes: str | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    reason: str | None = None,
    assignee_id: str | None = None,
    address: str | None = None,
) -> Row:
    """Make the move as ``principal``, if their session is still live; the case afterwards.

    Refusals are ``CaseRefused`` with the case store's reason; every attempt is audited.
    """
    outcome = "200"
    try:
        if await principal_of(session) is None:
            raise SignedOut("your session has ended: sign in again")
        the_desk = desk()
        async with the_desk.pool.connection() as conn:
            seen = await fetch_one(conn, "scope_case", case_id=case_id, area=scope.area(principal))
        if seen is None:
            raise NotFound(f"no case with id {case_id}")

        def run() -> Row:
            with the_desk.case_pool.connection() as conn:
                return act(
                    conn,
                    case_id,
                    action,
                    principal.user_id,
                    datetime.now(UTC),
                    notes=notes,
                    attachments=attachments,
                    reason=reason,
                    assignee_id=assignee_id,
                )

        return await asyncio.to_thread(run)
    except CaseRefused as refused:
        outcome = "401" if isinstance(refused, SignedOut) else OUTCOMES.get(type(refused), "400")
        raise
    finally:
        await audit(
            principal,
            "/cases/{case_id}/actions",
            f"case_id={case_id}",
            outcome,
            {"action": action.value},
            address,
        )
