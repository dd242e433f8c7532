"""Writing a registry (scenario, census import) into the database, idempotently."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from envgrid_common.registry import GridCell, Registry, Site

_CELL = """
INSERT INTO grid_cells (id, level, name, parent_id) VALUES (%s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET level = EXCLUDED.level, name = EXCLUDED.name,
    parent_id = EXCLUDED.parent_id
"""
# rule_overrides is left alone: it is edited through the API, not handed over by a registry.
_SITE = """
INSERT INTO sites (id, name, category, cell_id, lon, lat, production_process,
                   treatment_requirements, target_class, water_type, census_ref)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, category = EXCLUDED.category,
    cell_id = EXCLUDED.cell_id, lon = EXCLUDED.lon, lat = EXCLUDED.lat,
    production_process = EXCLUDED.production_process,
    treatment_requirements = EXCLUDED.treatment_requirements,
    target_class = EXCLUDED.target_class, water_type = EXCLUDED.water_type,
    census_ref = EXCLUDED.census_ref
"""
_CLEAR_DOWNSTREAM = "DELETE FROM site_downstream WHERE site_id = ANY(%s)"
_DOWNSTREAM = "INSERT INTO site_downstream (site_id, downstream_id) VALUES (%s, %s)"
_NODE = """
INSERT INTO nodes (id, site_id, kind, report_interval_s) VALUES (%s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET site_id = EXCLUDED.site_id, kind = EXCLUDED.kind,
    report_interval_s = EXCLUDED.report_interval_s
"""
# Officers of a scenario or census become users who sign in with their id as login name,
# once an admin has given them a password (envgrid users passwd).
_OFFICER = """
INSERT INTO users (id, login, name, role, cell_id, phone, email, active)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role,
    cell_id = EXCLUDED.cell_id, phone = EXCLUDED.phone, email = EXCLUDED.email,
    active = EXCLUDED.active, updated_at = now()
"""


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
            _NODE, [(n.id, n.site_id, n.kind, n.report_interval_s) for n in registry.nodes]
        )
        cur.executemany(
            _OFFICER,
            [
                (o.id, o.id, o.name, o.role, o.cell_id, o.phone, o.email, o.active)
                for o in registry.officers
            ],
        )


def upsert_cells(cur: psycopg.Cursor[Any], cells: Iterable[GridCell]) -> None:
    """Insert or update grid cells, parents before children."""
    cur.executemany(_CELL, [(c.id, c.level, c.name, c.parent_id) for c in cells])


def upsert_sites(cur: psycopg.Cursor[Any], sites: Iterable[Site]) -> None:
    """Insert or update sites, their downstream links aside (their rule overrides are kept)."""
    cur.executemany(
        _SITE,
        [
            (
                s.id,
                s.name,
                s.category,
                s.cell_id,
                s.lon,
                s.lat,
                s.production_process,
                s.treatment_requirements,
                s.target_class,
                s.water_type,
                s.census_ref,
            )
            for s in sites
        ],
    )


def replace_downstream(cur: psycopg.Cursor[Any], sites: Iterable[Site]) -> None:
    """Make each site's downstream links exactly the ones it lists (the sites must exist)."""
    sites = list(sites)
    cur.execute(_CLEAR_DOWNSTREAM, ([s.id for s in sites],))
    cur.executemany(_DOWNSTREAM, [(s.id, down) for s in sites for down in s.downstream])
