"""``envgrid record``: subscribe to topic filters and write what comes to feed files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from envgrid_common import __version__
from envgrid_common.clock import utc_now
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.settings import EnvgridSettings
from envgrid_sim.feeds.format import SUFFIX
from envgrid_sim.feeds.plan import parse_filters
from envgrid_sim.feeds.progress import Progress, human_bytes
from envgrid_sim.feeds.recorder import Recorder, RecordOptions
from envgrid_sim.feeds.writer import RotatingFeed
from envgrid_sim.stopping import stop_on_signals

DESCRIPTION = f"""\
Subscribe to topic filters on a broker (MQTT 5, QoS 1 by default) and write every message to
a feed: compressed blocks of records with the receive time, topic, QoS, retain flag, the MQTT 5
properties that matter and the payload byte for byte (docs/feeds.md). Blocks are written at
least every --flush-ms; a message is acknowledged to the broker once its block is in the file,
so a recorder stopped at any moment, even killed, leaves every written record readable, and
with --persistent the broker keeps what was not written yet for the next run. OUT is a
directory (files named feed-<UTC start>-<n>{SUFFIX}, sorting in time order, a new one per
--rotate-mb / --rotate-minutes) or one {SUFFIX} file. Ctrl-C or SIGTERM stops it cleanly."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``record``."""
    parser = commands.add_parser(
        "record",
        help="record what crosses the broker into feed files",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--mqtt-url", help="broker to record from (ENVGRID_MQTT_URL)")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="F",
        help="topic filter to subscribe to; repeatable (default: {ENVGRID_TOPIC_ROOT}/v1/#)",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR|FILE",
        help=f"a directory or a {SUFFIX} file",
    )
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1, help="subscription QoS")
    parser.add_argument(
        "--persistent",
        action="store_true",
        help="keep the session between runs (give --client-id): nothing is missed while stopped",
    )
    parser.add_argument(
        "--session-expiry", type=int, default=3600, metavar="S", help="persistent session life"
    )
    parser.add_argument("--client-id", default="", help="MQTT client id (default: random)")
    parser.add_argument("--rotate-mb", type=float, default=0, metavar="MB", help="new file past MB")
    parser.add_argument(
        "--rotate-minutes", type=float, default=0, metavar="M", help="new file every M minutes"
    )
    parser.add_argument(
        "--flush-ms", type=int, default=200, metavar="MS", help="longest a record waits unwritten"
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop by itself after S")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Record until stopped; print a summary."""
    settings = EnvgridSettings()
    try:
        address = BrokerAddress.parse(args.mqtt_url or settings.mqtt_url)
        filters = parse_filters(args.filter or [f"{settings.topics.base}/#"])
        if args.persistent and not args.client_id:
            raise ValueError("--persistent needs --client-id: the session is found by it")
        feed = open_feed(args, address, filters)
    except (ValueError, OSError) as error:
        sys.stderr.write(f"envgrid record: {error}\n")
        return 2
    options = RecordOptions(filters, args.qos, args.persistent, args.session_expiry, args.client_id)
    recorder = Recorder(address, feed, options)
    stop, stopped_by = stop_on_signals()
    try:
        recorder.start()
    except ConnectionError as error:
        feed.close()
        sys.stderr.write(f"envgrid record: {error}\n")
        return 1
    sys.stderr.write(f"recording {', '.join(filters)} from {address} into {args.out}\n")
    progress = Progress(sys.stderr, "record")
    flush_s = max(0.01, args.flush_ms / 1000)
    waited = 0.0
    while not stop.wait(flush_s) and not recorder.failed.is_set():
        recorder.flush()
        waited += flush_s
        progress.update(recorder.received, _detail(recorder, feed))
        if args.duration is not None and waited >= args.duration:
            break
    try:
        recorder.stop()
    except OSError as error:
        recorder.failure = recorder.failure or f"cannot write the feed: {error}"
    progress.update(recorder.received, _detail(recorder, feed), final=True)
    why = f" ({stopped_by[0]})" if stopped_by else ""
    sys.stderr.write(
        f"stopped{why}: {feed.total_records:,} message(s), {human_bytes(recorder.payload_bytes)} "
        f"of payload, in {len(feed.files)} file(s) of {human_bytes(feed.total_bytes)}:\n"
    )
    for path in feed.files:
        sys.stderr.write(f"  {path}\n")
    if recorder.failure:
        sys.stderr.write(f"envgrid record: {recorder.failure}\n")
        return 1
    return 0


def open_feed(
    args: argparse.Namespace, address: BrokerAddress, filters: tuple[str, ...]
) -> RotatingFeed:
    """The feed to write: a directory of rotated files, or one file."""
    meta = {
        "created": utc_now().isoformat(),
        "broker": str(address),
        "filters": list(filters),
        "qos": args.qos,
        "envgrid": __version__,
    }
    out: Path = args.out
    rotate_bytes = int(args.rotate_mb * 1024 * 1024)
    rotate_s = args.rotate_minutes * 60
    if out.suffix == SUFFIX and not out.is_dir():
        return RotatingFeed(
            out.parent, meta, rotate_bytes=rotate_bytes, rotate_s=rotate_s, single=out
        )
    return RotatingFeed(out, meta, rotate_bytes=rotate_bytes, rotate_s=rotate_s)


def _detail(recorder: Recorder, feed: RotatingFeed) -> str:
    return f"{human_bytes(feed.total_bytes)} written  {len(feed.files)} file(s)"
