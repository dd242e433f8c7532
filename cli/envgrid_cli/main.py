"""``envgrid``: one command, a subcommand per component."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from envgrid_cli import demo, scenario, schema, what_if
from envgrid_cloud import cli as cloud_cli
from envgrid_cloud.auth import cli as auth_cli
from envgrid_common import __version__
from envgrid_common.logs import setup_logging
from envgrid_edge import cli as edge_cli
from envgrid_gateway import cli as gateway_cli
from envgrid_gateway import hj212_cli
from envgrid_sim import cli as sim_cli
from envgrid_sim.feeds import record_command, replay_command

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
REGISTRARS: tuple[Register, ...] = (
    demo.register,
    cloud_cli.register,
    gateway_cli.register,
    hj212_cli.register,
    edge_cli.register,
    sim_cli.register,
    record_command.register,
    replay_command.register,
    what_if.register_options,
    cloud_cli.register_db,
    cloud_cli.register_sites,
    cloud_cli.register_cases,
    auth_cli.register,
    scenario.register,
    schema.register,
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = argparse.ArgumentParser(
        prog="envgrid",
        description="envgrid: pollution-source monitoring from township nodes to closed cases.",
    )
    parser.add_argument("--version", action="version", version=f"envgrid {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTRARS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; its handler returns the exit status."""
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or "INFO")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
