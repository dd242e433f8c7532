"""``python -m tests.integration.camera_fake_node --config FILE``: ``envgrid edge camera`` as a
real process, with a scripted detector instead of the real one (``new`` at the 3rd analysed
frame, an ``update`` at the 5th, ``end`` only when the agent stops)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from envgrid_common.logs import setup_logging
from envgrid_edge.camera import cli
from tests.camera_fakes import DetectorMaker


def main(argv: Sequence[str] | None = None) -> int:
    """Parse as ``envgrid edge camera`` does, then run with the scripted detector."""
    parser = argparse.ArgumentParser(prog="camera_fake_node")
    cli.add_camera(parser.add_subparsers(dest="agent", required=True))
    args = parser.parse_args(["camera", *(sys.argv[1:] if argv is None else argv)])
    setup_logging("INFO")
    return cli.run(args, make_detector=DetectorMaker(new_at=3, update_at=5, end_at=None))


if __name__ == "__main__":
    sys.exit(main())
