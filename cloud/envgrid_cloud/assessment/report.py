"""The assessment as a caller may see it: the queries run, scored and ranked (async, on the
API's pool; the desk calls the same functions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from envgrid_cloud.assessment.month import Month
from envgrid_cloud.assessment.score import Assessed, Figures, Weights, assess
from envgrid_cloud.assessment.sql import load
from envgrid_cloud.auth.principal import Principal

Level = Literal["township", "village"]
WEIGHT_NAMES = ("ack_on_time", "close_on_time", "self_found", "overdue", "false_alarm")
# The row of a township's sites that lie in no village.
TOWNSHIP_OWN_ZH = "（乡镇直属）"


class UnknownTownship(LookupError):
    """No such township, or not one the caller may see."""

    def __init__(self, township_id: str) -> None:
        super().__init__(f"no township with id {township_id!r}")
        self.township_id = township_id


@dataclass(frozen=True, slots=True)
class StoredWeights:
    """The weights in force, and who set them when (None: the shipped defaults)."""

    weights: Weights
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class Place:
    """A township the report breaks down."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Report:
    """One month's assessment at one level, as one caller sees it.

    ``level`` 'township': ``rows`` are the townships of the caller's area, ranked among
    themselves. 'village': ``rows`` are the villages of ``township`` in the caller's area,
    ranked, then the township's own sites (id None, not ranked); ``total`` is the township's
    row if the caller's area holds the whole township (else None).
    """

    month: Month
    level: Level
    weights: StoredWeights
    rows: tuple[Assessed, ...]
    generated_at: datetime
    township: Place | None = None
    total: Assessed | None = None


def _area(principal: Principal) -> list[str] | None:
    return None if principal.cells is None else list(principal.cells)


async def _all(conn: AsyncConnection[DictRow], name: str, **params: Any) -> list[DictRow]:
    cursor = await conn.execute(load(name), params)
    return await cursor.fetchall()


def _figures(row: DictRow) -> Figures:
    return Figures(**row)


def _stored(row: DictRow) -> StoredWeights:
    return StoredWeights(
        Weights(**{k: row[k] for k in WEIGHT_NAMES}), row["updated_at"], row["updated_by"]
    )


async def current_weights(conn: AsyncConnection[DictRow]) -> StoredWeights:
    """The weights in force (the defaults if the row is missing)."""
    rows = await _all(conn, "weights")
    if not rows:
        return StoredWeights(Weights(), datetime(1970, 1, 1, tzinfo=UTC), None)
    return _stored(rows[0])


async def save_weights(
    conn: AsyncConnection[DictRow], weights: Weights, user_id: str
) -> StoredWeights:
    """Set the weights (an administrator's doing: the caller checks); what is now in force."""
    params = {k: getattr(weights, k) for k in WEIGHT_NAMES}
    rows = await _all(conn, "weights_save", **params, updated_by=user_id)
    return _stored(rows[0])


async def township_report(
    conn: AsyncConnection[DictRow],
    principal: Principal,
    month: Month,
    *,
    county_id: str | None = None,
    now: datetime | None = None,
) -> Report:
    """The townships of the caller's area (an admin: all; ``county_id``: only that county's),
    scored and ranked among themselves. A village officer's area holds no township: no rows."""
    weights = await current_weights(conn)
    rows = await _all(
        conn,
        "townships",
        start=month.start,
        end=month.end,
        area=_area(principal),
        county=county_id,
        township=None,
    )
    return Report(
        month,
        "township",
        weights,
        tuple(assess(map(_figures, rows), weights.weights)),
        now or datetime.now(UTC),
    )


async def village_report(
    conn: AsyncConnection[DictRow],
    principal: Principal,
    township_id: str,
    month: Month,
    *,
    now: datetime | None = None,
) -> Report:
    """The villages of a township within the caller's area, scored and ranked among
    themselves, with the township's own sites and its total (if the caller sees it whole).

    The township must be in the caller's area or above their cell (a village officer sees
    their own village's row in their township); else ``UnknownTownship``.
    """
    found = await _all(
        conn,
        "township",
        township=township_id,
        area=_area(principal),
        home=principal.cell_id,
    )
    if not found:
        raise UnknownTownship(township_id)
    place = Place(found[0]["id"], found[0]["name"])
    weights = await current_weights(conn)
    area = _area(principal)
    rows = await _all(
        conn, "villages", start=month.start, end=month.end, area=area, township=place.id
    )
    villages = [_figures(r) for r in rows if r["id"] is not None]
    own = [_figures({**r, "name": TOWNSHIP_OWN_ZH}) for r in rows if r["id"] is None]
    ranked = assess(villages, weights.weights) + assess(own, weights.weights, ranked=False)
    total: Assessed | None = None
    if area is None or place.id in area:
        whole = await _all(
            conn,
            "townships",
            start=month.start,
            end=month.end,
            area=area,
            county=None,
            township=place.id,
        )
        total = assess(map(_figures, whole), weights.weights, ranked=False)[0]
    return Report(
        month,
        "village",
        weights,
        tuple(ranked),
        now or datetime.now(UTC),
        township=place,
        total=total,
    )
