"""``envgrid scenario``: list the simulated scenarios, load one's registry into the database."""

from __future__ import annotations

import argparse

SCENARIOS = ("luxi",)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``scenario load``."""
    parser = commands.add_parser(
        "scenario",
        help="simulated scenarios: load one's grid, sites and nodes into the database",
        description="Simulated township scenarios.",
    )
    actions = parser.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    load = actions.add_parser(
        "load",
        help="write a scenario's grid, sites and nodes into ENVGRID_DATABASE_URL",
        description=(
            "Write a scenario's grid cells, sites and nodes into the database "
            "(ENVGRID_DATABASE_URL), migrating it first. Safe to repeat."
        ),
    )
    load.add_argument("name", choices=SCENARIOS, help="scenario name")
    load.set_defaults(handler=run_load)


def run_load(args: argparse.Namespace) -> int:
    """Migrate, then upsert the scenario's registry."""
    import psycopg

    from envgrid_cloud.db.migrate import migrate
    from envgrid_cloud.registry.store import upsert_registry
    from envgrid_cloud.settings import CloudSettings
    from envgrid_sim.scenarios.luxi import luxi_scenario

    url = CloudSettings().database_url
    migrate(url)
    registry = luxi_scenario().registry
    with psycopg.connect(url) as conn:
        upsert_registry(conn, registry)
    print(
        f"loaded scenario {args.name}: {len(registry.cells)} grid cells, "
        f"{len(registry.sites)} sites, {len(registry.nodes)} nodes"
    )
    return 0
