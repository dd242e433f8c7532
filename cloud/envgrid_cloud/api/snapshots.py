"""``/api/v1/cases/{id}/snapshots``: the JPEG evidence camera nodes sent of a case's incidents;
``/api/v1/snapshots/false-alarms``: those of false alarms, zipped for the detector's re-evaluation.

A snapshot is seen through its case, as attachments are: whoever may see the case may see
it; to anybody else it does not exist (404).
"""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Annotated

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import StreamingResponse
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from envgrid_cloud.api import API_PREFIX, scope
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid, not_found
from envgrid_cloud.api.instants import NAIVE_NOTE, parse_instant, within_range
from envgrid_cloud.api.models.snapshots import SnapshotOut
from envgrid_cloud.api.params import Id, Serial, id_query, instant_query
from envgrid_cloud.api.security import FORBIDDEN, Admin, CurrentUser
from envgrid_cloud.api.sql import fetch_all, fetch_one
from envgrid_cloud.cases.false_alarms import false_alarms, frames, labels_csv
from envgrid_cloud.cases.pool import SyncPool

router = APIRouter(tags=["snapshots"])

JPEG = "image/jpeg"
# A newer snapshot of the same incident may replace this one: the browser asks again each
# time (cheaply: If-None-Match answers 304 while it is the same).
CACHE_CONTROL = "private, no-cache"


def snapshot_url(case_id: int, node_id: str, event_id: str) -> str:
    """Where the API serves one snapshot of a case."""
    return f"{API_PREFIX}/cases/{case_id}/snapshots/{node_id}/{event_id}"


async def snapshots_of(conn: AsyncConnection[DictRow], case_id: int) -> list[SnapshotOut]:
    """The snapshots the case shows (the caller has checked that the case may be seen)."""
    rows = await fetch_all(conn, "case_snapshots", case_id=case_id)
    return [
        SnapshotOut.model_validate({**r, "url": snapshot_url(case_id, r["node_id"], r["event_id"])})
        for r in rows
    ]


@router.get(
    "/cases/{case_id}/snapshots",
    summary="The snapshots of a case's incidents",
    responses={404: {"description": "Unknown case (or not in your area)"}},
)
async def list_snapshots(conn: Conn, principal: CurrentUser, case_id: Serial) -> list[SnapshotOut]:
    """The best snapshot of each camera incident of the case, oldest first."""
    await scope.require_case(conn, principal, case_id)
    return await snapshots_of(conn, case_id)


@router.get(
    "/cases/{case_id}/snapshots/{node_id}/{event_id}",
    summary="One snapshot (JPEG)",
    response_class=Response,
    response_model=None,
    responses={
        200: {"description": "The JPEG", "content": {JPEG: {}}},
        304: {"description": "Unchanged since the copy the browser has (If-None-Match)"},
        404: {"description": "No such snapshot on this case (or the case is not in your area)"},
    },
)
async def get_snapshot(
    conn: Conn,
    principal: CurrentUser,
    case_id: Serial,
    node_id: Id,
    event_id: Id,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """The JPEG the camera sent (the best of the incident so far)."""
    await scope.require_case(conn, principal, case_id)
    row = await fetch_one(
        conn, "case_snapshot", case_id=case_id, node_id=node_id, event_id=event_id
    )
    if row is None:
        raise not_found("snapshot", f"{case_id}/{node_id}/{event_id}")
    etag = f'"{row["digest"]}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if if_none_match is not None and etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    disposition = f'inline; filename="{node_id}-{event_id}.jpg"'
    return Response(
        bytes(row["jpeg"]),
        media_type=JPEG,
        headers={**headers, "Content-Disposition": disposition},
    )


# A zip up to this size is built in memory; a larger one spills to a temporary file.
ZIP_IN_MEMORY = 32 * 1024 * 1024
CHUNK = 1024 * 1024


def _build_zip(pool: SyncPool, since: datetime | None, township_id: str | None) -> IO[bytes]:
    """labels.csv and the frames, as ``envgrid cases export-false-alarms`` writes them."""
    spool = tempfile.SpooledTemporaryFile(max_size=ZIP_IN_MEMORY)  # noqa: SIM115 - returned
    with pool.connection() as conn, zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as archive:
        alarms = false_alarms(conn, since, township_id)
        written = []
        for alarm, jpeg in frames(conn, alarms):
            archive.writestr(alarm.file, jpeg)  # JPEG does not compress: stored as it is
            written.append(alarm)
        archive.writestr("labels.csv", labels_csv(written))
    spool.seek(0)
    return spool


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    # A plain iterator: the response reads it in a worker thread, off the event loop.
    with spool:
        while chunk := spool.read(CHUNK):
            yield chunk


@router.get(
    "/snapshots/false-alarms",
    summary="Snapshots of false alarms, zipped (admin)",
    response_class=Response,
    response_model=None,
    responses={
        200: {
            "description": "labels.csv (file,label: negative; case, node, event, reason …) and "
            "the JPEGs under negative/, as `envgrid cases export-false-alarms` writes them",
            "content": {"application/zip": {}},
        },
        **FORBIDDEN,
    },
)
async def false_alarms_zip(
    request: Request,
    _admin: Admin,
    since: Annotated[
        str | None, instant_query(f"Only cases dismissed from this time on. {NAIVE_NOTE}")
    ] = None,
    township_id: Annotated[str | None, id_query("Only this township's cases")] = None,
) -> StreamingResponse:
    """The snapshots of every camera case dismissed as a false alarm (误报), for
    ``envgrid edge camera eval`` to re-evaluate the detector on."""
    try:
        start = within_range(parse_instant(since)) if since is not None else None
    except ValueError as exc:
        raise invalid("since", str(exc), since) from None
    pool: SyncPool = request.app.state.case_pool
    spool = await asyncio.to_thread(_build_zip, pool, start, township_id)
    return StreamingResponse(
        _chunks(spool),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="false-alarms.zip"'},
    )
