"""``envgrid edge camera``: run a camera node (``--config FILE``), or one of its commands.

The running form takes options only, so commands can sit beside it as words:
``envgrid edge camera --config FILE`` runs the agent, ``envgrid edge camera eval DIR``
evaluates the detector. A command is added by appending its registrar to
:data:`CAMERA_COMMANDS` (each gets the ``camera`` parser's subcommands and adds one parser
with its own ``handler`` default, which wins over the running form's).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from envgrid_edge.camera.eval_cli import add_eval_parser

if TYPE_CHECKING:  # numpy and OpenCV load when a camera runs, not for every ``envgrid --help``
    from envgrid_edge.camera.factory import DetectorFactory

log = logging.getLogger("envgrid.edge.camera")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

CAMERA_COMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    add_eval_parser
]
"""Registrars of ``envgrid edge camera`` commands (e.g. ``eval``)."""


def add_camera(
    agents: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``camera`` (the running form and its commands) to the agents' subcommands."""
    camera = agents.add_parser(
        "camera",
        help="watch a camera for smoke and flame and report each incident once, with a snapshot",
        description=(
            "Read a camera (RTSP/HTTP stream, local device, video file or image folder) through "
            "OpenCV, analyse a few frames a second with the smoke and flame detector, and "
            "publish each incident at QoS 1 on {root}/v1/nodes/{node_id}/detections (new, "
            "updates, end) with its best frame as JPEG on …/snapshots/{event_id}, a retained "
            "online status and an offline Last Will on …/status. Like the sensor agent, "
            "everything goes through the outbox on disk first: nothing is lost while the "
            "broker is away or the agent restarts, and what was held back is sent marked "
            '"historical": true. A stream that drops is reconnected with back-off.'
        ),
        epilog=f"Example node files: {EXAMPLES}/camera-*.yaml",
    )
    camera.add_argument(
        "--config", type=Path, metavar="FILE", help="the node's YAML file (required to run)"
    )
    camera.add_argument("--mqtt-url", metavar="URL", help="broker (overrides the file)")
    camera.add_argument("--topic-root", metavar="ROOT", help="topic root (overrides the file)")
    camera.add_argument("--outbox", type=Path, metavar="PATH", help="outbox file (overrides)")
    camera.add_argument(
        "--check", action="store_true", help="validate the file, print the node, and exit"
    )
    camera.set_defaults(handler=run)
    if CAMERA_COMMANDS:
        commands = camera.add_subparsers(dest="camera_command", metavar="COMMAND")
        for register in CAMERA_COMMANDS:
            register(commands)
    return camera


def run(args: argparse.Namespace, make_detector: DetectorFactory | None = None) -> int:
    """Run the camera agent until SIGINT/SIGTERM or its file's end: 0 clean, 1 failed, 2 config."""
    from envgrid_common.outbox import OutboxLocked
    from envgrid_edge.camera.agent import CameraAgent, Outcome
    from envgrid_edge.camera.config import ConfigError, load_camera_config
    from envgrid_edge.camera.factory import make_detector as real_detector
    from envgrid_edge.camera.sources import open_source
    from envgrid_edge.cli import overrides, stop_on_signals

    if args.config is None:
        print("envgrid edge camera: --config FILE is required to run a camera", file=sys.stderr)
        return 2
    try:
        config = load_camera_config(args.config, overrides(args))
    except ConfigError as error:
        print(f"envgrid edge camera: {error}", file=sys.stderr)
        return 2
    if getattr(args, "log_level", None) is None:
        logging.getLogger().setLevel(config.log_level)  # the file's, else ENVGRID_LOG_LEVEL
    source = open_source(config.source)
    if args.check:
        print(
            f"node {config.node_id} (camera): {config.source.type} {source.name}, "
            f"{config.analysis.rate_fps:g} frames/s analysed at {config.analysis.width} px wide, "
            f"{len(config.masks.ignore)} masked area(s) → {config.address} "
            f"{config.topics.detections(config.node_id)}; outbox {config.outbox_path}"
        )
        return 0
    stop = stop_on_signals()
    try:
        agent = CameraAgent(config, source, make_detector or real_detector)
    except OutboxLocked as error:
        print(f"envgrid edge camera: {error}", file=sys.stderr)
        return 1
    print(
        f"envgrid edge camera {config.node_id} running; Ctrl-C stops", file=sys.stderr, flush=True
    )
    outcome = agent.run(stop)
    return 1 if outcome is Outcome.FAILED else 0
