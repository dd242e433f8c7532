"""``/api/v1/cases/live``: every change to the cases of one's area, as it happens (SSE).

A stream stays open for hours: it must not hold one of the API's pooled connections for all
that time, so it authenticates on a connection of its own that it gives back at once
(:func:`envgrid_cloud.api.security.authenticate_briefly`), and app.py includes this router
before the cases router (``/cases/{case_id}`` would take the path otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from envgrid_cloud.api.live_scope import LiveScope
from envgrid_cloud.api.security import UNAUTHORIZED, authenticate_briefly
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.cases.feed import CaseFeed

router = APIRouter(tags=["cases"])

KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
READY_WAIT_S = 5.0


def _frame(event: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n"


async def _stream(feed: CaseFeed, scope: LiveScope, principal: Principal) -> AsyncIterator[str]:
    subscriber = feed.subscribe()
    try:
        yield "retry: 3000\n: connected\n\n"
        while not subscriber.dropped:
            try:
                event, data = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if await scope.allows(principal, event, data):
                yield _frame(event, data)
        yield ": dropped: this client fell behind; reconnect\n\n"
    finally:
        feed.unsubscribe(subscriber)


@router.get(
    "/cases/live",
    summary="Live feed of case changes (Server-Sent Events)",
    response_class=StreamingResponse,
    response_model=None,
    responses={
        **UNAUTHORIZED,
        200: {
            "description": "`event: case` with `data:` a case summary (JSON) per change; "
            "`event: resync` when changes may have been missed (reload); a comment every "
            f"{KEEPALIVE_S:.0f} s keeps the stream alive",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def live(
    request: Request, principal: Annotated[Principal, Depends(authenticate_briefly)]
) -> StreamingResponse:
    """New and changed cases of your area as they happen, for the desk (新案件无需刷新)."""
    feed: CaseFeed = request.app.state.case_feed
    await feed.wait_ready(READY_WAIT_S)
    return StreamingResponse(
        _stream(feed, request.app.state.live_scope, principal),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
