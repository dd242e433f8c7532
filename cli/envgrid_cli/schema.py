"""``envgrid schema``: the JSON Schema of the wire messages."""

from __future__ import annotations

import argparse
import sys

import orjson
from pydantic import BaseModel

from envgrid_common.messages import (
    CONTRACT_VERSION,
    DeadLetter,
    Detection,
    GatewayStatus,
    NodeStatus,
    Reading,
)

MESSAGES: dict[str, type[BaseModel]] = {
    "reading": Reading,
    "detection": Detection,
    "status": NodeStatus,
    "gateway-status": GatewayStatus,
    "dead-letter": DeadLetter,
}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``schema``."""
    parser = commands.add_parser(
        "schema",
        help="print the JSON Schema of the wire messages",
        description="Print the JSON Schema of envgrid's MQTT messages (contract v1).",
    )
    parser.add_argument(
        "message", nargs="?", choices=sorted(MESSAGES), help="one message (default: all)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print one schema, or all of them keyed by message name."""
    names = [args.message] if args.message else list(MESSAGES)
    schemas = {name: MESSAGES[name].model_json_schema() for name in names}
    document = schemas[names[0]] if args.message else {"version": CONTRACT_VERSION, **schemas}
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
