"""``envgrid edge``: agents that run on nodes; ``edge sensor`` polls an instrument, ``edge camera``
watches for smoke and flame."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger("envgrid.edge")

EXAMPLES = Path(__file__).resolve().parent / "examples"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``edge`` with its agents."""
    parser = commands.add_parser(
        "edge",
        help="run an agent on a node (sensor, camera)",
        description="Agents that run on township nodes and report to the township broker.",
    )
    add_agents(parser)


def add_agents(parser: argparse.ArgumentParser) -> None:
    """The agent subcommands: ``sensor`` and ``camera``."""
    from envgrid_edge.camera.cli import add_camera

    agents = parser.add_subparsers(dest="agent", required=True, metavar="AGENT")
    sensor = agents.add_parser(
        "sensor",
        help="poll an instrument (Modbus RTU/TCP or simulated) and publish its readings",
        description=(
            "Poll one instrument on schedule and publish each reading at QoS 1 on "
            "{root}/v1/nodes/{node_id}/readings, with a retained online status and an offline "
            "Last Will on …/status. Every message is first stored in an outbox on disk (SQLite) "
            "and deleted only when the broker has acknowledged it: nothing is lost while the "
            "broker is away or the agent restarts, and what was held back is sent marked "
            '"historical": true. Sequence numbers continue across restarts.'
        ),
        epilog=f"Example node files: {EXAMPLES}",
    )
    sensor.add_argument(
        "--config", type=Path, required=True, metavar="FILE", help="the node's YAML file"
    )
    sensor.add_argument("--mqtt-url", metavar="URL", help="broker (overrides the file)")
    sensor.add_argument("--topic-root", metavar="ROOT", help="topic root (overrides the file)")
    sensor.add_argument("--outbox", type=Path, metavar="PATH", help="outbox file (overrides)")
    sensor.add_argument(
        "--check", action="store_true", help="validate the file, print the node, and exit"
    )
    sensor.set_defaults(handler=run)
    add_camera(agents)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """What ``--mqtt-url``, ``--topic-root`` and ``--outbox`` say, as node-file keys."""
    overrides: dict[str, Any] = {}
    if args.mqtt_url is not None:
        overrides["mqtt_url"] = args.mqtt_url
    if args.topic_root is not None:
        overrides["topic_root"] = args.topic_root
    if args.outbox is not None:
        overrides["outbox"] = {"path": str(args.outbox.resolve())}
    return overrides


def run(args: argparse.Namespace) -> int:
    """Run the sensor agent until SIGINT or SIGTERM: 0 clean, 1 cannot run, 2 bad config."""
    from envgrid_common.outbox import OutboxLocked
    from envgrid_edge.agent import SensorAgent
    from envgrid_edge.config import ConfigError, load_config
    from envgrid_edge.drivers import open_driver

    try:
        config = load_config(args.config, overrides(args))
    except ConfigError as error:
        print(f"envgrid edge sensor: {error}", file=sys.stderr)
        return 2
    if getattr(args, "log_level", None) is None:
        logging.getLogger().setLevel(config.log_level)  # the file's, else ENVGRID_LOG_LEVEL
    if args.check:
        print(
            f"node {config.node_id} ({config.kind}): {config.driver.type} driver, "
            f"every {config.poll_interval_s:g}s → {config.address} "
            f"{config.topics.readings(config.node_id)}; outbox {config.outbox_path}"
        )
        return 0
    stop = stop_on_signals()
    try:
        driver = open_driver(config.driver, config.node_id)
    except (OSError, ValueError) as error:
        print(f"envgrid edge sensor: {error}", file=sys.stderr)
        return 1
    try:
        agent = SensorAgent(config, driver)
    except OutboxLocked as error:
        driver.close()
        print(f"envgrid edge sensor: {error}", file=sys.stderr)
        return 1
    print(
        f"envgrid edge sensor {config.node_id} running; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    agent.run(stop)
    return 0


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set (the agent then stops cleanly)."""
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m envgrid_edge``: the same as ``envgrid edge``."""
    from envgrid_common.logs import setup_logging

    parser = argparse.ArgumentParser(
        prog="python -m envgrid_edge", description="envgrid edge agents (as `envgrid edge`)."
    )
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    add_agents(parser)
    args = parser.parse_args(argv)
    setup_logging(args.log_level or "INFO")
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
