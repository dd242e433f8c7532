"""What the benchmarks share: a throw-away database, and a registry for their nodes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from envgrid_cloud.db.migrate import migrate
from envgrid_common.registry import GridCell, GridLevel, Node, Registry, Site, SiteCategory

PG_ADMIN_URL = os.environ.get(
    "ENVGRID_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def bench_database(prefix: str = "envgrid_bench") -> Iterator[str]:
    """A fresh migrated database on the machine's PostgreSQL, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rpartition("/")[0] + f"/{name}"
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def registry_for(nodes: list[str], report_interval_s: float = 60.0) -> Registry:
    """One site per node, in one township, so the ingest knows them."""
    cells = (
        GridCell(id="bench-county", level=GridLevel.COUNTY, name="bench"),
        GridCell(id="bench-town", level=GridLevel.TOWNSHIP, name="bench", parent_id="bench-county"),
    )
    sites = tuple(
        Site(id=f"site-{n}", name=n, category=SiteCategory.WATER_BODY, cell_id="bench-town")
        for n in nodes
    )
    return Registry(
        cells=cells,
        sites=sites,
        nodes=tuple(
            Node(id=n, site_id=f"site-{n}", report_interval_s=report_interval_s) for n in nodes
        ),
    )
