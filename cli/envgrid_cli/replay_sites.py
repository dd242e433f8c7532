"""``envgrid replay --site SITE``: a plain replay of the nodes of some sites, looked up in the
cloud's registry (``ENVGRID_DATABASE_URL``), as ``--node`` for each."""

from __future__ import annotations

import argparse

import psycopg

from envgrid_cloud.registry.lookup import nodes_of_sites
from envgrid_cloud.settings import CloudSettings


class SiteSelectionError(ValueError):
    """The sites asked for cannot be turned into nodes (say why)."""


def add_site_nodes(args: argparse.Namespace, database_url: str | None = None) -> list[str]:
    """Extend ``args.node`` with the nodes of ``args.site``; the node ids added."""
    url = database_url or CloudSettings().database_url
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            found = nodes_of_sites(conn, list(args.site))
    except psycopg.Error as error:
        raise SiteSelectionError(
            f"--site needs the registry at ENVGRID_DATABASE_URL ({error})"
        ) from None
    unknown = [site for site in args.site if site not in found]
    if unknown:
        raise SiteSelectionError(f"no site {', '.join(map(repr, unknown))} in the registry")
    empty = [site for site in args.site if not found[site]]
    if empty:
        raise SiteSelectionError(f"site {', '.join(map(repr, empty))} has no nodes")
    added = [node for site in args.site for node in found[site]]
    args.node = [*args.node, *added]
    return added
