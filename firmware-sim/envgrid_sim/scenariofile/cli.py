"""``envgrid sim generate``: write a made-up county as a scenario file (for scale tests)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from envgrid_sim.scenariofile.build import scenario_from_text
from envgrid_sim.scenariofile.generate import dump_scenario, generate_county


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``generate`` under ``sim``."""
    parser = commands.add_parser(
        "generate",
        help="write a generated county as a scenario file",
        description=(
            "Write a county of invented townships as a scenario file (docs/scenarios.md): "
            "four villages of two groups each per township, M sites per township (farms with "
            "two nodes, river sections flowing into one another, refuse points, roads), a grid "
            "officer per township. The same options and seed give the same file."
        ),
    )
    parser.add_argument("--townships", type=int, required=True, metavar="N")
    parser.add_argument("--sites-per-township", type=int, required=True, metavar="M")
    parser.add_argument("--seed", type=int, default=0, help="seed of the names and places")
    parser.add_argument(
        "--interval", type=float, default=10.0, metavar="SECONDS", help="report interval"
    )
    parser.add_argument("--name", default="county", help="id of the county cell (prefix of ids)")
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
    parser.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    """Generate, check that it loads, write: 0 done, 2 bad options."""
    try:
        content = generate_county(
            args.townships,
            args.sites_per_township,
            seed=args.seed,
            report_interval_s=args.interval,
            name=args.name,
        )
        text = dump_scenario(content)
        scenario = scenario_from_text(text, "<generated>")
    except ValueError as error:
        print(f"envgrid sim generate: {error}", file=sys.stderr)
        return 2
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    print(
        f"{scenario.title}: {len(scenario.registry.sites)} sites, "
        f"{len(scenario.registry.nodes)} nodes" + (f" → {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0
