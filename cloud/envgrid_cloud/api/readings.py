"""``/api/v1/sites/{site_id}/readings``: one metric over time, raw or per interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from envgrid_cloud.api.buckets import BUCKET_PATTERN, FORMS, iso_duration, parse_bucket_parameter
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid, not_found
from envgrid_cloud.api.instants import EARLIEST, NAIVE_NOTE, parse_instant, within_range
from envgrid_cloud.api.models.readings import Bucket, BucketSeries, RawSeries, ReadingPoint, Series
from envgrid_cloud.api.params import Id, id_query, instant_query, metric_query
from envgrid_cloud.api.scope import require_site
from envgrid_cloud.api.security import CurrentUser
from envgrid_cloud.api.sql import fetch_all, fetch_one
from envgrid_cloud.auth.principal import Principal
from envgrid_common.metrics import METRICS

router = APIRouter(tags=["readings"])

DEFAULT_WINDOW = timedelta(hours=24)
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000
# Monday 2000-01-03 00:00 in Shanghai: day and week intervals start at Shanghai midnight.
BUCKET_ORIGIN = datetime.fromisoformat("2000-01-03T00:00:00+08:00")
CATALOGUE = "/api/v1/metrics"


def _instant(param: str, text: str | None) -> datetime | None:
    try:
        return within_range(parse_instant(text)) if text is not None else None
    except ValueError as exc:
        raise invalid(param, str(exc), text) from None


def window(start_text: str | None, end_text: str | None) -> tuple[datetime, datetime]:
    """[start, end) from the query; by default the 24 hours up to now (or up to ``end``).

    A window that ends before it starts holds nothing (an empty answer, not an error)."""
    start, end = _instant("start", start_text), _instant("end", end_text)
    if end is None:
        end = datetime.now(UTC)
    if start is None:
        start = end - DEFAULT_WINDOW if end - EARLIEST > DEFAULT_WINDOW else EARLIEST
    return start, end


async def _check_site_and_node(
    conn: Conn, principal: Principal, site_id: str, node_id: str | None
) -> None:
    await require_site(conn, principal, site_id)
    if node_id is not None:
        node = await fetch_one(conn, "node", node_id=node_id)
        if node is None or node["site_id"] != site_id:
            raise not_found(f"node on site {site_id!r}", node_id)


@router.get(
    "/sites/{site_id}/readings",
    summary="One metric of a site over time (历史数据)",
    responses={404: {"description": "Unknown site, or a node not on it"}},
)
async def site_readings(
    conn: Conn,
    principal: CurrentUser,
    site_id: Id,
    metric: Annotated[str, metric_query(f"Canonical metric name; see [{CATALOGUE}]({CATALOGUE})")],
    start: Annotated[
        str | None,
        instant_query(f"Window start (inclusive). {NAIVE_NOTE} Default: 24 h before end."),
    ] = None,
    end: Annotated[
        str | None,
        instant_query(
            f"Window end (exclusive). {NAIVE_NOTE} Default: now. A window that ends before "
            "it starts holds nothing."
        ),
    ] = None,
    bucket: Annotated[
        str | None,
        Query(
            description=f"Aggregate per interval (avg/min/max/count) instead of raw points: "
            f"{FORMS}. Intervals are aligned to midnight Asia/Shanghai; those at the "
            "window's edges hold only the values inside the window.",
            examples=["15m"],
            max_length=32,
            json_schema_extra={"pattern": BUCKET_PATTERN},
        ),
    ] = None,
    node_id: Annotated[
        str | None, id_query("Only this node of the site (default: all of them)")
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LIMIT, description="Most points (or intervals) returned"),
    ] = DEFAULT_LIMIT,
) -> Series:
    """Raw points ordered by time, or with ``bucket`` statistics per interval."""
    known = METRICS.get(metric)
    if known is None:
        raise invalid(
            "metric", f"unknown metric {metric!r}; the catalogue is at {CATALOGUE}", metric
        )
    first, last = window(start, end)
    try:
        interval = parse_bucket_parameter(bucket) if bucket is not None else None
    except ValueError as exc:
        raise invalid("bucket", str(exc), bucket) from None
    await _check_site_and_node(conn, principal, site_id, node_id)
    params = {
        "site_id": site_id,
        "node_id": node_id,
        "metric": metric,
        "start": first,
        "end": last,
        # One row more than asked tells whether there were more.
        "limit": limit + 1,
    }
    common = {
        "site_id": site_id,
        "node_id": node_id,
        "metric": metric,
        "unit": known.unit,
        "start": first,
        "end": last,
        "limit": limit,
    }
    if interval is None:
        rows = await fetch_all(conn, "readings_raw", **params)
        return RawSeries.model_validate(
            {
                **common,
                "truncated": len(rows) > limit,
                "points": [ReadingPoint.model_validate(r) for r in rows[:limit]],
            }
        )
    rows = await fetch_all(
        conn, "readings_buckets", **params, bucket=interval, origin=BUCKET_ORIGIN
    )
    buckets = [
        Bucket.model_validate(
            {**r, "start": r["bucket_start"], "end": r["bucket_start"] + interval}
        )
        for r in rows[:limit]
    ]
    return BucketSeries.model_validate(
        {
            **common,
            "truncated": len(rows) > limit,
            "bucket": iso_duration(interval),
            "bucket_seconds": int(interval.total_seconds()),
            "buckets": buckets,
        }
    )
