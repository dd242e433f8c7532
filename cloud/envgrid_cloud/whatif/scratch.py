"""A scratch database for a what-if run: made beside the live one, with its registry."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

from envgrid_cloud.db.migrate import migrate
from envgrid_cloud.rules.model import RuleError
from envgrid_cloud.rules.packs import validate_overrides
from envgrid_cloud.whatif.sql import load
from envgrid_common.registry import SiteCategory

# The registry, in an order its references accept, each sorted so that parents come first.
REGISTRY_TABLES: tuple[tuple[str, str], ...] = (
    ("grid_cells", "array_position(ARRAY['county', 'township', 'village', 'group'], level), id"),
    ("sites", "id"),
    ("site_downstream", "site_id, downstream_id"),
    ("users", "id"),
    ("nodes", "id"),
)


class WhatIfError(ValueError):
    """A what-if that cannot run as asked (unknown site, overrides the pack refuses)."""


def parse_overrides(specs: list[str]) -> dict[str, dict[str, Any]]:
    """``RULE.FIELD=VALUE`` each (VALUE as JSON if it reads as JSON, else text) → overrides."""
    import json

    overrides: dict[str, dict[str, Any]] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        rule_id, dot, field = key.partition(".")
        if not sep or not dot or not rule_id or not field:
            raise WhatIfError(f"override {spec!r}: expected RULE.FIELD=VALUE, e.g. codmn.above=4")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        overrides.setdefault(rule_id, {})[field] = value
    return overrides


def create_scratch(live_url: str) -> str:
    """A new empty database on the live database's server; its URL."""
    name = f"envgrid_whatif_{uuid.uuid4().hex[:12]}"
    # Through the server's maintenance database: the live one need not exist (a benchmark).
    with psycopg.connect(_with_dbname(live_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL(load("create_database").decode()).format(name=sql.Identifier(name)))
    return _with_dbname(live_url, name)


def drop_scratch(scratch_url: str) -> None:
    """Drop a database :func:`create_scratch` made."""
    name = conninfo_to_dict(scratch_url)["dbname"]
    admin = _with_dbname(scratch_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        statement = sql.SQL(load("drop_database").decode()).format(name=sql.Identifier(str(name)))
        conn.execute(statement)


def prepare(
    scratch_url: str, live_url: str, site_id: str, overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Migrate the scratch database, copy the live registry into it, and set ``site_id``'s
    overrides (merged over those it has live) if given; the site's overrides in force."""
    migrate(scratch_url)
    with psycopg.connect(live_url) as src, psycopg.connect(scratch_url) as dst:
        for table, order in REGISTRY_TABLES:
            out = sql.SQL(load("copy_out").decode()).format(
                table=sql.Identifier(table), order=sql.SQL(order)
            )
            into = sql.SQL(load("copy_in").decode()).format(table=sql.Identifier(table))
            with src.cursor().copy(out) as reader, dst.cursor().copy(into) as writer:
                for chunk in reader:
                    writer.write(chunk)
        dst.execute(load("forget_runtime"))
        row = dst.execute(load("site"), {"site_id": site_id}).fetchone()
        if row is None:
            raise WhatIfError(f"no site {site_id!r} in the live registry")
        category, live_overrides = SiteCategory(row[0]), dict(row[1] or {})
        merged = {**live_overrides}
        for rule_id, fields in (overrides or {}).items():
            merged[rule_id] = {**merged.get(rule_id, {}), **fields}
        try:
            validate_overrides(category, merged)
        except RuleError as error:
            raise WhatIfError(str(error)) from None
        dst.execute(load("set_overrides"), {"site_id": site_id, "rule_overrides": Jsonb(merged)})
    return merged


def _with_dbname(url: str, name: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo("", **params)


def ingest_ready(url: str, client_prefix: str) -> int:
    """How many ingest workers named ``{client_prefix}-N`` have reported themselves running."""
    with psycopg.connect(url) as conn:
        row = conn.execute(load("ingest_ready"), {"prefix": f"{client_prefix}-%"}).fetchone()
    return int(row[0]) if row is not None else 0
