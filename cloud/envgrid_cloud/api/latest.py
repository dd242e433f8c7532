"""``/api/v1/sites/{site_id}/latest``: the newest value of every metric at a site."""

from __future__ import annotations

from fastapi import APIRouter

from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.models.latest import LatestValue, SiteLatest
from envgrid_cloud.api.params import Id
from envgrid_cloud.api.scope import require_site
from envgrid_cloud.api.security import CurrentUser
from envgrid_cloud.api.sql import fetch_all
from envgrid_common.metrics import METRICS

router = APIRouter(tags=["readings"])


@router.get(
    "/sites/{site_id}/latest",
    summary="Latest value of every metric at a site (实时数据)",
    responses={404: {"description": "Unknown site"}},
)
async def site_latest(conn: Conn, principal: CurrentUser, site_id: Id) -> SiteLatest:
    """Per metric, the newest value any of the site's nodes reported, by metric name."""
    await require_site(conn, principal, site_id)
    values = []
    for row in await fetch_all(conn, "site_latest", site_id=site_id):
        metric = METRICS.get(row["metric"])
        values.append(
            LatestValue.model_validate(
                {
                    **row,
                    "unit": metric.unit if metric else None,
                    "label_zh": metric.label_zh if metric else None,
                    "label_en": metric.label_en if metric else None,
                }
            )
        )
    return SiteLatest(site_id=site_id, values=values)
