"""``/api/v1/cases``: cases through the closed loop and their files (the live feed: live.py).

Reads use the API's async pool; moves and new cases run the synchronous case store (the same
code the rules engine calls) in a thread, on the cases' own small pool.
"""

from __future__ import annotations

import asyncio
import binascii
from base64 import b64decode
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from envgrid_cloud.api import API_PREFIX, scope
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid, not_found
from envgrid_cloud.api.models.cases import (
    AttachmentOut,
    Case,
    CaseActionRequest,
    CaseEvent,
    CaseFile,
    CaseNotification,
    CaseReading,
    Cases,
    NewCaseRequest,
)
from envgrid_cloud.api.params import MAX_INT, Offset, Serial, id_query
from envgrid_cloud.api.security import CurrentUser
from envgrid_cloud.api.snapshots import snapshots_of
from envgrid_cloud.api.sql import fetch_one
from envgrid_cloud.cases.errors import CaseRefused, IllegalMove, Invalid, NotFound, NotPermitted
from envgrid_cloud.cases.model import CaseState, Severity
from envgrid_cloud.cases.pool import SyncPool
from envgrid_cloud.cases.records import Row
from envgrid_cloud.cases.sql import load
from envgrid_cloud.cases.store import report_problem
from envgrid_cloud.cases.transitions import act

router = APIRouter(tags=["cases"])

READINGS_MARGIN = timedelta(hours=1)  # readings shown before the first and after the last breach
READINGS_LIMIT = 2000

ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The officer may not make this move (role, activity or area)"},
    404: {"description": "Unknown case or site"},
    409: {"description": "The move does not apply to the case's state; says what does"},
}


async def _rows(conn: AsyncConnection[DictRow], name: str, **params: object) -> list[DictRow]:
    cursor = await conn.execute(load(name), params)
    return await cursor.fetchall()


def _http(exc: CaseRefused) -> Exception:
    """The HTTP answer to a refusal, its message as the detail."""
    if isinstance(exc, Invalid):
        return invalid("body", str(exc), None, where="body")
    code = {
        IllegalMove: status.HTTP_409_CONFLICT,
        NotPermitted: status.HTTP_403_FORBIDDEN,
        NotFound: status.HTTP_404_NOT_FOUND,
    }.get(type(exc), status.HTTP_400_BAD_REQUEST)
    return HTTPException(code, detail=str(exc))


async def _write(request: Request, work: Callable[[psycopg.Connection[Any]], Row]) -> Row:
    """Run ``work`` in a thread on a connection of the cases' pool."""
    pool: SyncPool = request.app.state.case_pool

    def run() -> Row:
        with pool.connection() as conn:
            return work(conn)

    try:
        return await asyncio.to_thread(run)
    except CaseRefused as exc:
        raise _http(exc) from None


@router.get("/cases", summary="Cases, newest first", responses={404: ERRORS[404]})
async def list_cases(
    conn: Conn,
    principal: CurrentUser,
    township_id: Annotated[str | None, id_query("Only this township's")] = None,
    site_id: Annotated[str | None, id_query("Only this site's")] = None,
    state: Annotated[CaseState | None, Query(description="Only in this state")] = None,
    open: Annotated[
        bool | None, Query(description="true: still in the loop; false: closed or dismissed")
    ] = None,
    assignee_id: Annotated[str | None, id_query("Only those this officer has")] = None,
    severity: Annotated[Severity | None, Query(description="Only of this severity")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Most items returned")] = 100,
    offset: Offset = 0,
) -> Cases:
    """Cases of your area (and those your townships were told of, downstream) matching every
    filter given, newest raised first, and how many match in all."""
    if township_id is not None:
        await scope.require_cell(conn, principal, township_id, kind="township")
    if site_id is not None:
        await scope.require_site(conn, principal, site_id)
    rows = await _rows(
        conn,
        "list_cases",
        township_id=township_id,
        site_id=site_id,
        state=state.value if state else None,
        open=open,
        assignee_id=assignee_id,
        severity=severity.value if severity else None,
        limit=limit,
        offset=offset,
        area=scope.area(principal),
    )
    return Cases(
        count=rows[0]["total"] if rows else 0, items=[Case.model_validate(r) for r in rows]
    )


@router.post(
    "/cases",
    summary="Report a problem found on the spot (主动发现)",
    status_code=status.HTTP_201_CREATED,
    responses={403: ERRORS[403], 404: {"description": "Unknown site, or a node not on it"}},
)
async def report(
    request: Request, conn: Conn, principal: CurrentUser, body: NewCaseRequest
) -> Case:
    """An officer opens a case at a site in their area; it is dispatched like any other."""
    await scope.require_site(conn, principal, body.site_id)
    if body.node_id is not None:
        node = await fetch_one(conn, "node", node_id=body.node_id)
        if node is None or node["site_id"] != body.site_id:
            raise not_found(f"node on site {body.site_id!r}", body.node_id)
    row = await _write(
        request,
        lambda conn: report_problem(
            conn,
            body.site_id,
            principal.user_id,
            body.title,
            body.severity,
            datetime.now(UTC),
            notes=body.notes,
            attachments=[a.model_dump(exclude_none=True) for a in body.attachments],
            node_id=body.node_id,
            metric=body.metric,
            value=body.value,
        ),
    )
    return Case.model_validate(row)


def _attachment(case_id: int, event_id: int, item: dict[str, Any]) -> AttachmentOut:
    index = item.pop("index")
    if item.pop("stored"):
        item["url"] = f"{API_PREFIX}/cases/{case_id}/attachments/{event_id}/{index}"
    return AttachmentOut.model_validate({"size": None, **item})


def _window(case: DictRow) -> tuple[datetime, datetime]:
    start: datetime = case["first_seen_at"]
    end: datetime = max(case["last_seen_at"], case["cleared_at"] or case["last_seen_at"])
    return start - READINGS_MARGIN, end + READINGS_MARGIN


@router.get("/cases/{case_id}", summary="A case file (一案一档)", responses={404: ERRORS[404]})
async def get_case(conn: Conn, principal: CurrentUser, case_id: Serial) -> CaseFile:
    """The case, every step with who, when, notes and attachments, the readings around it, and
    the snapshots camera nodes sent of its incidents."""
    await scope.require_case(conn, principal, case_id)
    found = await _rows(conn, "case_row", id=case_id)
    if not found:
        raise not_found("case", str(case_id))
    case = found[0]
    events = await _rows(conn, "case_events", case_id=case_id)
    notifications = await _rows(conn, "case_notifications", case_id=case_id)
    start, end = _window(case)
    readings = await _rows(
        conn,
        "case_readings",
        site_id=case["site_id"],
        node_id=case["node_id"],
        metric=case["metric"],
        start=start,
        end=end,
        limit=READINGS_LIMIT,
    )
    return CaseFile(
        case=Case.model_validate(case),
        events=[
            CaseEvent.model_validate(
                {**e, "attachments": [_attachment(case_id, e["id"], a) for a in e["attachments"]]}
            )
            for e in events
        ],
        notifications=[CaseNotification.model_validate(n) for n in notifications],
        snapshots=await snapshots_of(conn, case_id),
        readings_start=start,
        readings_end=end,
        readings=[CaseReading.model_validate(r) for r in readings[:READINGS_LIMIT]],
        readings_limit=READINGS_LIMIT,
        readings_truncated=len(readings) > READINGS_LIMIT,
    )


@router.post("/cases/{case_id}/actions", summary="Move a case through the loop", responses=ERRORS)
async def move(
    request: Request, conn: Conn, principal: CurrentUser, case_id: Serial, body: CaseActionRequest
) -> Case:
    """Dispatch, acknowledge, inspect, rectify, report, reject, close, dismiss or reassign.

    The signed-in user makes the move. 409 says what is allowed from the case's state; 403 why
    this user may not.
    """
    request.state.audit_detail = {"action": body.action.value}
    await scope.require_case(conn, principal, case_id)
    row = await _write(
        request,
        lambda conn: act(
            conn,
            case_id,
            body.action,
            principal.user_id,
            datetime.now(UTC),
            notes=body.notes,
            attachments=[a.model_dump(exclude_none=True) for a in body.attachments],
            reason=body.reason,
            assignee_id=body.assignee_id,
        ),
    )
    return Case.model_validate(row)


@router.get(
    "/cases/{case_id}/attachments/{event_id}/{index}",
    summary="A file attached to a step",
    response_class=Response,
    response_model=None,
    responses={
        200: {
            "description": "The file, with the media type it was uploaded with",
            "content": {"*/*": {}},
        },
        307: {"description": "The file is kept elsewhere: its link"},
        404: {"description": "No such attachment"},
    },
)
async def get_attachment(
    conn: Conn,
    principal: CurrentUser,
    case_id: Serial,
    event_id: Serial,
    index: Annotated[int, Path(ge=0, le=MAX_INT)],
) -> Response:
    """The file as uploaded, with its media type (or a redirect to where it is kept)."""
    await scope.require_case(conn, principal, case_id)
    rows = await _rows(conn, "case_attachment", case_id=case_id, event_id=event_id, index=index)
    item = rows[0]["attachment"] if rows else None
    if not item:
        raise not_found("attachment", f"{case_id}/{event_id}/{index}")
    if "url" in item:
        return RedirectResponse(item["url"], status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    try:
        content = b64decode(item["data_base64"])
    except (binascii.Error, ValueError):
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR, "attachment unreadable"
        ) from None
    disposition = f"inline; filename*=UTF-8''{quote(item['name'])}"
    return Response(
        content, media_type=item["content_type"], headers={"Content-Disposition": disposition}
    )
