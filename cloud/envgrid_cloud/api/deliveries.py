"""``/api/v1/cases/{case_id}/deliveries``: who was told of a case, and every attempt's answer.

Seen by whoever sees the case. What a message said is shown to others than administrators
only when it carried this case alone: a digest also names cases of other areas.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from envgrid_cloud.api import scope
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.models.deliveries import Attempt, CaseDeliveries, Delivery
from envgrid_cloud.api.security import CurrentUser
from envgrid_cloud.api.sql import fetch_all

router = APIRouter(tags=["notifications"])

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The case's id")]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown case, or not of your area"}
}


@router.get(
    "/cases/{case_id}/deliveries",
    summary="A case's notifications and every attempt",
    responses=NOT_FOUND,
)
async def case_deliveries(conn: Conn, principal: CurrentUser, case_id: CaseId) -> CaseDeliveries:
    """Each channel told of the case (queued, held by a silence, sent or dropped, with its
    attempts and last error) and each message that carried it, with the answer: HTTP status
    and body, or the SMTP reply."""
    await scope.require_case(conn, principal, case_id)
    items = await fetch_all(conn, "case_deliveries", case_id=case_id)
    attempts = await fetch_all(conn, "case_attempts", case_id=case_id)
    return CaseDeliveries(
        case_id=case_id,
        items=[Delivery.model_validate(row) for row in items],
        attempts=[
            Attempt.model_validate(
                {
                    **row,
                    "request": row["request"] if principal.is_admin or row["cases"] == 1 else None,
                }
            )
            for row in attempts
        ],
    )
