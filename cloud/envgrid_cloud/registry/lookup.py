"""Reading the registry: which nodes a site has."""

from __future__ import annotations

from typing import Any

import psycopg

from envgrid_cloud.registry.sql import load


def nodes_of_sites(conn: psycopg.Connection[Any], site_ids: list[str]) -> dict[str, list[str]]:
    """Each known site of ``site_ids`` with its node ids (a site unknown to the registry is
    absent; one without nodes maps to an empty list)."""
    found: dict[str, list[str]] = {}
    with conn.cursor() as cur:
        rows = cur.execute(load("site_nodes"), {"site_ids": site_ids}).fetchall()
    for site_id, node_id in rows:
        found.setdefault(str(site_id), [])
        if node_id is not None:
            found[str(site_id)].append(str(node_id))
    return found
