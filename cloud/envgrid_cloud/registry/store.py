"""Writing a registry (scenario, census import) into the database, idempotently."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from envgrid_cloud.registry.sql import load
from envgrid_common.registry import GridCell, Registry, Site

# The columns upsert_site.sql writes: all but the downstream links (a table of their own).
_SITE_COLUMNS = tuple(name for name in Site.model_fields if name != "downstream")


def _fields(item: object, *names: str) -> dict[str, Any]:
    """The statement's parameters: the attributes it names, as they are (enums stay enums)."""
    return {name: getattr(item, name) for name in names}


def upsert_registry(conn: psycopg.Connection[object], registry: Registry) -> None:
    """Insert or update every cell, site, node and officer of ``registry`` in one transaction.

    Each site's downstream links are replaced by the ones it lists.
    """
    with conn.transaction(), conn.cursor() as cur:
        upsert_cells(cur, registry.cells)
        upsert_sites(cur, registry.sites)
        # Links go in once every site of the registry exists, whatever order they came in.
        replace_downstream(cur, registry.sites)
        cur.executemany(
            load("upsert_node"),
            [_fields(n, "id", "site_id", "kind", "report_interval_s") for n in registry.nodes],
        )
        cur.executemany(
            load("upsert_officer"),
            [
                _fields(o, "id", "name", "role", "cell_id", "phone", "email", "active")
                for o in registry.officers
            ],
        )


def upsert_cells(cur: psycopg.Cursor[Any], cells: Iterable[GridCell]) -> None:
    """Insert or update grid cells, parents before children."""
    cur.executemany(
        load("upsert_cell"),
        [_fields(c, "id", "level", "name", "parent_id") for c in cells],
    )


def upsert_sites(cur: psycopg.Cursor[Any], sites: Iterable[Site]) -> None:
    """Insert or update sites, their downstream links aside (their rule overrides are kept)."""
    cur.executemany(load("upsert_site"), [_fields(s, *_SITE_COLUMNS) for s in sites])


def replace_downstream(cur: psycopg.Cursor[Any], sites: Iterable[Site]) -> None:
    """Make each site's downstream links exactly the ones it lists (the sites must exist)."""
    sites = list(sites)
    cur.execute(load("clear_downstream"), {"site_ids": [s.id for s in sites]})
    cur.executemany(
        load("insert_downstream"),
        [{"site_id": s.id, "downstream_id": down} for s in sites for down in s.downstream],
    )
