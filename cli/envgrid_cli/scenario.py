"""``envgrid scenario``: load a simulated scenario's registry (shipped or from a file) into the
database."""

from __future__ import annotations

import argparse


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
            "Write a scenario's grid cells, sites, nodes and officers into the database "
            "(ENVGRID_DATABASE_URL), migrating it first. Safe to repeat. The scenario is a "
            "shipped one by name (luxi) or a scenario file (docs/scenarios.md), e.g. one "
            "written by `envgrid sim generate`."
        ),
    )
    load.add_argument("name", metavar="NAME|FILE", help="shipped scenario (luxi) or a .yaml file")
    load.add_argument(
        "--cameras",
        action="store_true",
        help="include the camera nodes (and their sites), as `envgrid sim --cameras` runs them",
    )
    load.add_argument(
        "--hj212",
        action="store_true",
        help="include the HJ 212 stations (and their sites), as the demo runs them",
    )
    load.set_defaults(handler=run_load)


def run_load(args: argparse.Namespace) -> int:
    """Check the scenario, migrate, then upsert its registry: 0 done, 2 a bad scenario."""
    import sys

    import psycopg

    from envgrid_cloud.db.migrate import migrate
    from envgrid_cloud.registry.store import upsert_registry
    from envgrid_cloud.settings import CloudSettings
    from envgrid_sim.scenario import load_scenario

    try:
        scenario = load_scenario(args.name, None, cameras=args.cameras, hj212=args.hj212)
    except ValueError as error:
        print(f"envgrid scenario load: {error}", file=sys.stderr)
        return 2
    registry = scenario.registry
    url = CloudSettings().database_url
    migrate(url)
    with psycopg.connect(url) as conn:
        upsert_registry(conn, registry)
    print(
        f"loaded scenario {scenario.name}: {len(registry.cells)} grid cells, "
        f"{len(registry.sites)} sites, {len(registry.nodes)} nodes, "
        f"{len(registry.officers)} officers"
    )
    return 0
