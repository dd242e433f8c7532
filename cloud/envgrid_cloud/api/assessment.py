"""``/api/v1/assessment``: the monthly assessment (考评) of townships and of their villages.

Definitions, the score and who sees what: ``envgrid_cloud.assessment``. Each list also comes
as a file (``format=csv`` or ``xlsx``), laid out as on paper: a title row with the month and
the weights, Chinese headers, one row per township or village in rank order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import not_found
from envgrid_cloud.api.models.assessment import Assessment, AssessmentWeights, AssessmentWeightsIn
from envgrid_cloud.api.security import FORBIDDEN, Admin, CurrentUser
from envgrid_cloud.assessment import (
    Month,
    Report,
    UnknownTownship,
    current_weights,
    filename,
    save_weights,
    to_csv,
    to_xlsx,
    township_report,
    village_report,
)
from envgrid_cloud.assessment.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE
from envgrid_cloud.assessment.month import MONTH_PATTERN
from envgrid_common.messages import ID_PATTERN

router = APIRouter(tags=["assessment"])

Format = Literal["json", "csv", "xlsx"]
MonthQuery = Annotated[
    str | None,
    Query(
        pattern=MONTH_PATTERN,
        max_length=7,
        description="The month, YYYY-MM on Shanghai's calendar; default: the current one",
        examples=["2026-05"],
    ),
]
FormatQuery = Annotated[
    Format,
    Query(description="json (default), or a file: csv (UTF-8 with BOM) or xlsx"),
]
FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The assessment; with format=csv or xlsx, a file to download",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    },
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such township, or not in your area nor above your cell"},
}


def _month(text: str | None) -> Month:
    # The pattern already holds: parse cannot fail.
    return Month.parse(text) if text is not None else Month.containing(datetime.now(UTC))


def _answer(report: Report, form: Format) -> Assessment | Response:
    if form == "json":
        return Assessment.of(report)
    if form == "csv":
        content, media = to_csv(report), CSV_MEDIA_TYPE
    else:
        content, media = to_xlsx(report), XLSX_MEDIA_TYPE
    disposition = (
        f'attachment; filename="{filename(report, form)}"; '
        f"filename*=UTF-8''{quote(filename(report, form, ascii_only=False))}"
    )
    return Response(content, media_type=media, headers={"Content-Disposition": disposition})


@router.get(
    "/assessment/weights",
    summary="The score's weights",
    response_model=AssessmentWeights,
)
async def get_weights(conn: Conn, _principal: CurrentUser) -> AssessmentWeights:
    """The points each rate is worth, and the formula they make."""
    return AssessmentWeights.of(await current_weights(conn))


@router.put(
    "/assessment/weights",
    summary="Set the score's weights",
    response_model=AssessmentWeights,
    responses={**FORBIDDEN, 422: {"description": "A weight missing, or outside 0 … 1000"}},
)
async def put_weights(conn: Conn, admin: Admin, body: AssessmentWeightsIn) -> AssessmentWeights:
    """All five weights at once (administrators); every month's score follows them."""
    return AssessmentWeights.of(await save_weights(conn, body.weights(), admin.user_id))


@router.get(
    "/assessment",
    summary="Townships assessed and ranked (考评)",
    response_model=Assessment,
    responses=FILES,
)
async def townships(
    conn: Conn,
    principal: CurrentUser,
    month: MonthQuery = None,
    county_id: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="Only the townships of this county"),
    ] = None,
    format: FormatQuery = "json",
) -> Assessment | Response:
    """The townships of your area, scored and ranked among themselves, with the weights."""
    report = await township_report(conn, principal, _month(month), county_id=county_id)
    return _answer(report, format)


@router.get(
    "/assessment/{township_id}",
    summary="A township's villages assessed and ranked",
    response_model=Assessment,
    responses={**FILES, **NOT_FOUND},
)
async def villages(
    conn: Conn,
    principal: CurrentUser,
    township_id: Annotated[str, Path(pattern=ID_PATTERN, description="The township")],
    month: MonthQuery = None,
    format: FormatQuery = "json",
) -> Assessment | Response:
    """The villages of the township within your area, scored and ranked, then the
    township's own sites and, if you see the whole township, its total."""
    try:
        report = await village_report(conn, principal, township_id, _month(month))
    except UnknownTownship:
        raise not_found("township", township_id) from None
    return _answer(report, format)
