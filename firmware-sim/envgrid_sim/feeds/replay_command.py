"""``envgrid replay``: publish feed files back into a broker."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from envgrid_common.clock import utc_now
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.settings import EnvgridSettings
from envgrid_common.topics import Topics
from envgrid_sim.feeds.format import FeedError
from envgrid_sim.feeds.plan import Selection, parse_filters
from envgrid_sim.feeds.progress import Progress, human_bytes
from envgrid_sim.feeds.reader import FeedReader, feed_files
from envgrid_sim.feeds.replayer import ReplayCounts, Replayer, ReplayOptions
from envgrid_sim.feeds.resume import START, Position, ReplayState, load_state, save_state
from envgrid_sim.stopping import stop_on_signals

DESCRIPTION = """\
Publish recorded feeds (files, or directories of them in name order) into a broker: at the
recorded pace, --speed N times faster, or --max as fast as the broker acknowledges, keeping
at most --window QoS 1 messages in flight. Messages go out in recorded order on one
connection, so every node's order is kept; QoS and retain flag as recorded, MQTT 5
properties as recorded.

--shift-to-now moves every reading's and detection's ts by one offset (whole seconds) so that
the feed's first message is now; --historical yes|no sets their 'historical' flag. Payloads
that are not such JSON (snapshots, garbage) go out byte for byte.

--resume STATE_FILE keeps the replay's place there (every second and at exit): the first
record not yet acknowledged, refused or skipped. Given an existing file, the replay continues
from that place with the same time offset. Records sent after the place last saved (at most
the in-flight window after a clean stop, up to a second's worth after a kill) are sent again;
envgrid's ingest stores a reading once per (node, seq, ts), so nothing is stored twice.

--feed-clock also publishes the feed's time on {root}/v1/clock/feed (a tick every --tick-s
seconds of feed time, each after every message up to that time): a cloud started with
ENVGRID_CLOCK=feed decides (no data, daily means, escalation) on that clock, its sweeps
following what its ingest has committed, so the replay raises the cases it raised live.

The summary counts messages published, acknowledged, refused by the broker (PUBACK reason
code 0x80 or above; not sent again) and skipped by --filter/--node."""

STATE_EVERY_S = 1.0
TICK_S = 0.25


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay``."""
    parser = commands.add_parser(
        "replay",
        help="publish recorded feeds back into a broker",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="feed file or directory"
    )
    parser.add_argument("--mqtt-url", help="broker to publish into (ENVGRID_MQTT_URL)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, metavar="N", help="N × recorded pace")
    pace.add_argument("--max", action="store_true", help="as fast as the broker takes them")
    parser.add_argument(
        "--filter", action="append", default=[], metavar="F", help="replay only topics matching F"
    )
    parser.add_argument(
        "--node", action="append", default=[], metavar="ID", help="replay only these nodes' topics"
    )
    parser.add_argument(
        "--topic-root", metavar="FROM:TO", help="publish topics under root FROM under TO instead"
    )
    times = parser.add_mutually_exclusive_group()
    times.add_argument(
        "--shift-to-now", action="store_true", help="re-stamp readings so the feed starts now"
    )
    times.add_argument("--keep-times", action="store_true", help="keep recorded ts (default)")
    parser.add_argument(
        "--historical",
        choices=("yes", "no", "keep"),
        default="keep",
        help="set readings' and detections' historical flag (default keep)",
    )
    parser.add_argument(
        "--feed-clock",
        action="store_true",
        help="publish the feed's time for a cloud on ENVGRID_CLOCK=feed",
    )
    parser.add_argument(
        "--tick-s",
        type=float,
        default=10.0,
        metavar="S",
        help="feed seconds between two clock ticks (default 10)",
    )
    parser.add_argument("--resume", type=Path, metavar="STATE_FILE", help="keep/continue the place")
    parser.add_argument(
        "--window", type=int, default=1000, metavar="N", help="QoS 1 messages in flight at most"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0, metavar="S", help="wait for PUBACKs at the end"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Replay; print a summary. 0: all taken; 1: error or some not acknowledged; 130: stopped."""
    settings = EnvgridSettings()
    try:
        if args.speed <= 0:
            raise ValueError("--speed must be above 0")
        if not 1 <= args.window <= 20000:
            raise ValueError("--window must be between 1 and 20000")
        if args.tick_s < 0.001:
            raise ValueError("--tick-s must be at least 0.001")
        address = BrokerAddress.parse(args.mqtt_url or settings.mqtt_url)
        files = [path.resolve() for path in feed_files(args.files)]
        selection = Selection(
            parse_filters(args.filter),
            frozenset(args.node),
            Selection.parse_remap(args.topic_root) if args.topic_root else None,
        )
        start, offset_s = START, 0
        if args.resume is not None and args.resume.exists():
            state = load_state(args.resume, files)
            start, offset_s = state.position, state.offset_s
            sys.stderr.write(f"resuming at file {start[0] + 1}, record {start[1]:,}\n")
        elif args.shift_to_now:
            offset_s = shift_to_now(files)
        total = sum(FeedReader(path).count() for path in files)
    except (ValueError, OSError, FeedError) as error:
        sys.stderr.write(f"envgrid replay: {error}\n")
        return 2
    historical = {"yes": True, "no": False, "keep": None}[args.historical]
    options = ReplayOptions(
        speed=None if args.max else args.speed,
        window=args.window,
        offset_s=offset_s,
        historical=historical,
        selection=selection,
        clock_topic=_clock_topic(selection, settings) if args.feed_clock else None,
        tick_s=args.tick_s,
    )
    replayer = Replayer(address, files, options)
    try:
        replayer.connect()
    except ConnectionError as error:
        sys.stderr.write(f"envgrid replay: {error}\n")
        return 1
    before = _records_before(files, start)
    stop, stopped_by = stop_on_signals()
    worker = threading.Thread(target=replayer.run, args=(start, stop), name="replay-read")
    worker.start()
    progress = Progress(sys.stderr, "replay", total=total - before)
    counts = replayer.counts

    def keep_state() -> None:
        if args.resume is not None:
            state = ReplayState(tuple(str(f) for f in files), replayer.settled, offset_s)
            save_state(args.resume, state)

    ticks_per_save = max(1, round(STATE_EVERY_S / TICK_S))
    tick = 0
    while worker.is_alive():
        worker.join(TICK_S)
        tick += 1
        progress.update(counts.read, _detail(counts, replayer.in_flight))
        if tick % ticks_per_save == 0:
            keep_state()
    if stop.is_set():
        replayer.abandon()
    drained = replayer.finish(5.0 if stop.is_set() else args.drain_timeout)
    keep_state()
    progress.update(counts.read, _detail(counts, replayer.in_flight), final=True)
    _summary(counts, stopped_by, replayer.settled, files, drained)
    if stop.is_set():
        return 130
    return 0 if drained and not counts.refused else 1


def shift_to_now(files: list[Path]) -> int:
    """Seconds to add to the feed's times so that its first record falls now."""
    for path in files:
        for block in FeedReader(path).blocks():
            return round(utc_now().timestamp() - block.first_ns / 1e9)
    return 0


def _clock_topic(selection: Selection, settings: EnvgridSettings) -> str:
    """Where the ticks go: under the root the readings are published under."""
    root = selection.remap[1] if selection.remap is not None else settings.topic_root
    return Topics(root).clock()


def _records_before(files: list[Path], start: Position) -> int:
    file_index, record = start
    return sum(FeedReader(path).count() for path in files[:file_index]) + record


def _detail(counts: ReplayCounts, in_flight: int) -> str:
    return f"published {counts.published:,}  in flight {in_flight:,}"


def _summary(
    counts: ReplayCounts, stopped_by: list[str], settled: Position, files: list[Path], drained: bool
) -> None:
    write = sys.stderr.write
    why = f"stopped ({stopped_by[0]})" if stopped_by else "done"
    write(
        f"{why}: read {counts.read:,}, published {counts.published:,} "
        f"({human_bytes(counts.bytes)} of payload), acknowledged {counts.acknowledged:,}, "
        f"refused by the broker {counts.refused:,}, skipped by filters {counts.skipped:,}\n"
    )
    if counts.ticks:
        write(f"  feed clock ticks published: {counts.ticks:,}\n")
    for reason, n in counts.refusals.most_common():
        write(f"  refused {n:,}: {reason}\n")
    for tail in counts.tails:
        write(f"  {tail}\n")
    if not drained:
        write("  some messages were not acknowledged before the connection closed\n")
    if stopped_by:
        file_index, record = settled
        where = f"{files[file_index]} record {record:,}" if file_index < len(files) else "the end"
        write(f"  everything before {where} is settled; --resume continues from there\n")
