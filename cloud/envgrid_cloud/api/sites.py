"""``/api/v1/sites``: watched pollution sources (重点污染源) and their nodes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status
from psycopg.types.json import Jsonb

from envgrid_cloud.api import scope
from envgrid_cloud.api.conflicts import (
    conflict,
    plural,
    require_cell,
    set_downstream,
    write_one,
    writing,
)
from envgrid_cloud.api.database import Conn
from envgrid_cloud.api.errors import invalid, not_found
from envgrid_cloud.api.models.nodes import Node
from envgrid_cloud.api.models.sites import (
    RuleOverridesIn,
    Site,
    SiteCreate,
    SiteDetail,
    SiteRules,
    SiteUpdate,
)
from envgrid_cloud.api.params import Id, id_query
from envgrid_cloud.api.scope import area
from envgrid_cloud.api.security import Admin, CurrentUser
from envgrid_cloud.api.sql import fetch_all, fetch_one
from envgrid_cloud.rules.model import RuleError
from envgrid_cloud.rules.packs import validate_overrides
from envgrid_common.registry import SiteCategory

router = APIRouter(tags=["sites"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown site (or filter cell)"}}
WRITE: dict[int | str, dict[str, Any]] = {
    409: {"description": "The id or census id is taken, or downstream links would form a circle"},
    422: {"description": "Invalid fields, or an unknown cell or downstream site"},
}
RULES_EXAMPLE = {"water-nh3n": {"limit": 1.5}, "water-offline": {"enabled": False}}


@router.get("/sites", summary="Sites", responses=NOT_FOUND)
async def list_sites(
    conn: Conn,
    principal: CurrentUser,
    category: Annotated[SiteCategory | None, Query(description="Only this category")] = None,
    cell_id: Annotated[
        str | None, id_query("Only sites in this grid cell or any cell below it (辖区内)")
    ] = None,
) -> list[Site]:
    """Sites of your area by id, optionally of one category and within one cell's area."""
    if cell_id is not None:
        await scope.require_cell(conn, principal, cell_id)
    rows = await fetch_all(
        conn,
        "sites",
        category=category.value if category else None,
        cell_id=cell_id,
        area=area(principal),
    )
    return [Site.model_validate(row) for row in rows]


async def _detail(conn: Conn, site_id: str) -> SiteDetail:
    row = await fetch_one(conn, "site", site_id=site_id)
    if row is None:
        raise not_found("site", site_id)
    nodes = await fetch_all(conn, "nodes", site_id=site_id, area=None)
    return SiteDetail.model_validate({**row, "nodes": [Node.model_validate(n) for n in nodes]})


@router.get("/sites/{site_id}", summary="One site with its nodes", responses=NOT_FOUND)
async def get_site(conn: Conn, principal: CurrentUser, site_id: Id) -> SiteDetail:
    """One site of your area, the nodes that watch it and the sites upstream of it."""
    await scope.require_site(conn, principal, site_id)
    return await _detail(conn, site_id)


async def _write(conn: Conn, site_id: str, body: SiteUpdate, statement: str) -> bool:
    """Check the references, then insert or update; False if no row was written."""
    await require_cell(conn, body.cell_id)
    if body.census_ref is not None:
        owner = await fetch_one(conn, "site_census_owner", census_ref=body.census_ref)
        if owner is not None and owner["id"] != site_id:
            raise conflict(f"census id {body.census_ref!r} already belongs to site {owner['id']!r}")
    fields = body.model_dump(mode="json", exclude={"id", "downstream"})
    if await write_one(conn, statement, {**fields, "id": site_id}) is None:
        return False
    await set_downstream(conn, site_id, body.downstream)
    return True


@router.post(
    "/sites", summary="Create a site", status_code=status.HTTP_201_CREATED, responses=WRITE
)
async def create_site(conn: Conn, _admin: Admin, body: SiteCreate) -> SiteDetail:
    """A new site in a grid cell, with its census details and downstream links."""
    async with writing(conn):
        if not await _write(conn, body.id, body, "site_insert"):
            raise conflict(f"a site with id {body.id!r} already exists")
    return await _detail(conn, body.id)


@router.put("/sites/{site_id}", summary="Change a site", responses={**NOT_FOUND, **WRITE})
async def update_site(conn: Conn, _admin: Admin, site_id: Id, body: SiteUpdate) -> SiteDetail:
    """Replace everything about a site but its rule overrides; `downstream` replaces the links."""
    async with writing(conn):
        if await fetch_one(conn, "site", site_id=site_id) is None:
            raise not_found("site", site_id)
        await _write(conn, site_id, body, "site_update")
    return await _detail(conn, site_id)


@router.put(
    "/sites/{site_id}/rules",
    summary="Set a site's rule overrides",
    responses={
        **NOT_FOUND,
        422: {"description": "A rule the site's category does not have, or a field it refuses"},
    },
)
async def set_rules(
    conn: Conn,
    _admin: Admin,
    site_id: Id,
    overrides: Annotated[
        RuleOverridesIn,
        Body(
            description="Per rule id, the fields to change; `{}` restores the category defaults",
            examples=[RULES_EXAMPLE],
        ),
    ],
) -> SiteRules:
    """Replace a site's changes to its category's rules; each is checked against its pack."""
    site = await fetch_one(conn, "site", site_id=site_id)
    if site is None:
        raise not_found("site", site_id)
    try:
        validate_overrides(SiteCategory(site["category"]), overrides)
    except RuleError as error:
        raise invalid("body", str(error), None, where="body") from error
    row = await fetch_one(conn, "site_rules", site_id=site_id, rule_overrides=Jsonb(overrides))
    if row is None:
        raise not_found("site", site_id)
    return SiteRules.model_validate(row)


@router.delete(
    "/sites/{site_id}",
    summary="Delete a site",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**NOT_FOUND, 409: {"description": "Nodes or cases refer to it"}},
)
async def delete_site(conn: Conn, _admin: Admin, site_id: Id) -> None:
    """Delete a site no node watches and no case names; its downstream links go with it."""
    async with writing(conn):
        usage = await fetch_one(conn, "site_usage", site_id=site_id)
        if usage is not None and usage["nodes"]:
            nodes = usage["nodes"]
            raise conflict(
                f"site {site_id!r} is watched by {plural(len(nodes), 'node')}"
                f" ({', '.join(nodes)}); delete them or move them to another site first"
            )
        if usage is not None and usage["cases"]:
            raise conflict(
                f"site {site_id!r} is named by {plural(usage['cases'], 'case')},"
                " whose files are kept; it cannot be deleted"
            )
        if await fetch_one(conn, "site_delete", site_id=site_id) is None:
            raise not_found("site", site_id)
