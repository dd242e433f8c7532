"""Writing a registry (scenario, census import) into the database, idempotently."""

from __future__ import annotations

import psycopg

from envgrid_common.registry import Registry

_CELL = """
INSERT INTO grid_cells (id, level, name, parent_id) VALUES (%s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET level = EXCLUDED.level, name = EXCLUDED.name,
    parent_id = EXCLUDED.parent_id
"""
_SITE = """
INSERT INTO sites (id, name, category, cell_id, lon, lat) VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, category = EXCLUDED.category,
    cell_id = EXCLUDED.cell_id, lon = EXCLUDED.lon, lat = EXCLUDED.lat
"""
_NODE = """
INSERT INTO nodes (id, site_id, kind, report_interval_s) VALUES (%s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET site_id = EXCLUDED.site_id, kind = EXCLUDED.kind,
    report_interval_s = EXCLUDED.report_interval_s
"""


def upsert_registry(conn: psycopg.Connection[object], registry: Registry) -> None:
    """Insert or update every cell, site and node of ``registry`` in one transaction."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(_CELL, [(c.id, c.level, c.name, c.parent_id) for c in registry.cells])
        cur.executemany(
            _SITE,
            [(s.id, s.name, s.category, s.cell_id, s.lon, s.lat) for s in registry.sites],
        )
        cur.executemany(
            _NODE, [(n.id, n.site_id, n.kind, n.report_interval_s) for n in registry.nodes]
        )
