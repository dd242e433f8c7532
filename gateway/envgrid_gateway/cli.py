"""``envgrid gateway``: run one township gateway until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from envgrid_gateway.settings import GatewaySettings

log = logging.getLogger("envgrid.gateway")

_OVERRIDES = (
    ("gateway_id", "id"),
    ("mqtt_url", "mqtt_url"),
    ("uplink_mqtt_url", "uplink_url"),
    ("topic_root", "topic_root"),
    ("uplink_topic_root", "uplink_topic_root"),
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gateway``."""
    parser = commands.add_parser(
        "gateway",
        help="run a township gateway: validate node messages, forward them to the cloud",
        description=(
            "Run a township gateway: subscribe to every node topic on the township broker "
            "(ENVGRID_MQTT_URL), validate each message, forward valid ones unchanged to the "
            "cloud broker (ENVGRID_UPLINK_MQTT_URL) and refused ones to its dead-letter topic "
            "with the reason. A message is acknowledged to the township broker only once the "
            "cloud broker has it, so nothing is lost while the uplink is down."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that override settings."""
    parser.add_argument("--id", metavar="ID", help="gateway id (ENVGRID_GATEWAY_ID)")
    parser.add_argument("--mqtt-url", metavar="URL", help="township broker (ENVGRID_MQTT_URL)")
    parser.add_argument(
        "--uplink-url", metavar="URL", help="cloud broker (ENVGRID_UPLINK_MQTT_URL)"
    )
    parser.add_argument("--topic-root", metavar="ROOT", help="local root (ENVGRID_TOPIC_ROOT)")
    parser.add_argument(
        "--uplink-topic-root", metavar="ROOT", help="uplink root (ENVGRID_UPLINK_TOPIC_ROOT)"
    )


def settings_from(args: argparse.Namespace) -> GatewaySettings:
    """Settings from the environment (or YAML file), overridden by the options given."""
    overrides = {
        field: getattr(args, attr)
        for field, attr in _OVERRIDES
        if getattr(args, attr, None) is not None
    }
    return GatewaySettings(**overrides)


def run(args: argparse.Namespace) -> int:
    """Run until SIGINT or SIGTERM, then drain and stop cleanly."""
    from envgrid_gateway.gateway import Gateway

    try:
        settings = settings_from(args)
        gateway = Gateway(settings)
    except ValueError as error:
        log.error("%s", error)
        return 2
    if getattr(args, "log_level", None) is None:
        logging.getLogger().setLevel(settings.log_level.upper())  # ENVGRID_LOG_LEVEL
    stopped = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stopped.set()

    # Process-wide, so set here (the gateway owns this process) and not by Gateway itself.
    sys.setswitchinterval(settings.gateway_switch_interval_ms / 1000)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        gateway.start()
    except RuntimeError as error:  # e.g. the HJ 212 listener's address is taken
        log.error("%s", error)
        gateway.stop(drain_timeout_s=0)
        return 2
    print(f"envgrid gateway {gateway.settings.gateway_id} running; Ctrl-C stops", flush=True)
    stopped.wait()
    gateway.stop()
    return 0
