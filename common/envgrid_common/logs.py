"""One log format for every envgrid process."""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with time, component and level."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
