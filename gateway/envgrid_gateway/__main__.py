"""``python -m envgrid_gateway``: the gateway alone, with the options of ``envgrid gateway``."""

from __future__ import annotations

import argparse
import sys

from envgrid_common.logs import setup_logging
from envgrid_gateway import cli


def main() -> int:
    """Parse the gateway's options and run it."""
    parser = argparse.ArgumentParser(prog="python -m envgrid_gateway", description=__doc__)
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    cli.add_arguments(parser)
    args = parser.parse_args()
    setup_logging(args.log_level or "INFO")
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
