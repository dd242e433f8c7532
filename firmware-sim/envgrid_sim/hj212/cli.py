"""``envgrid sim hj212``: one virtual 数采仪 sending HJ 212 uploads to a platform over TCP."""

from __future__ import annotations

import argparse
import asyncio
import sys

from envgrid_common.hj212 import CrcMode, Edition
from envgrid_common.hj212.frame import MAX_SEGMENT
from envgrid_sim.hj212.build import StationOptions, build_station, parse_address
from envgrid_sim.hj212.factors import SourceKind
from envgrid_sim.hj212.fleet import progress
from envgrid_sim.hj212.schedule import MIN_INTERVALS_MIN
from envgrid_sim.hj212.station import VirtualStation
from envgrid_sim.stopping import forget_loop_signals, loop_stop_on_signals

PROGRESS_EVERY_S = 30.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim hj212``."""
    parser = commands.add_parser(
        "hj212",
        help="a virtual HJ 212 data-acquisition unit (数采仪) sending to a platform",
        description=(
            "A virtual 数采仪 at an enterprise's outfall (COD, NH3-N, pH, flow; ST=32) or stack "
            "(SO2, NOx, dust, O2, flow; ST=31) connecting to HOST:PORT as a TCP client. It "
            "uploads real-time data (2011) every RtdInterval, minute data (2051) at the end of "
            "each MinInterval window and hourly data (2061), with the window's start as "
            "DataTime; sends heartbeats when idle (9015 in 2025, 8013 before); waits for the "
            "9014 answer (same QN) when it asks for one, and sends unanswered uploads again "
            "later, so a backlog made while the link is down arrives late, oldest first."
        ),
    )
    parser.add_argument("--to", required=True, metavar="HOST:PORT", help="the platform")
    parser.add_argument("--mn", required=True, help="the unit's MN (device id)")
    parser.add_argument("--password", required=True, metavar="PW", help="its access password")
    parser.add_argument(
        "--edition", choices=[e.value for e in Edition], default="2017", help="(2017)"
    )
    parser.add_argument(
        "--crc", choices=[m.value for m in CrcMode], default="standard", help="(standard)"
    )
    parser.add_argument(
        "--source",
        choices=[k.value for k in SourceKind],
        default="effluent",
        help="what it watches: a wastewater outfall or a flue-gas stack (effluent)",
    )
    parser.add_argument(
        "--no-answer",
        action="store_true",
        help="do not ask for 9014 answers (Flag's A bit clear); uploads are sent once",
    )
    parser.add_argument(
        "--rtd-interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="RtdInterval, seconds between real-time uploads, 30-3600 (30)",
    )
    parser.add_argument(
        "--min-interval",
        type=int,
        choices=MIN_INTERVALS_MIN,
        default=10,
        metavar="MINUTES",
        help="MinInterval, minutes per minute-data window (10; one of "
        + ", ".join(map(str, MIN_INTERVALS_MIN))
        + ")",
    )
    parser.add_argument(
        "--backfill",
        type=float,
        default=0.0,
        metavar="HOURS",
        help="start the unit's clock HOURS in the past: it sends that history (late, as after "
        "an outage) at --speed, then keeps real time (0)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=60.0,
        metavar="N",
        help="how much faster than real time the --backfill history is sent (60)",
    )
    parser.add_argument(
        "--split-at",
        type=int,
        default=MAX_SEGMENT,
        metavar="BYTES",
        help=f"split uploads whose data segment exceeds BYTES into PNUM/PNO packets "
        f"({MAX_SEGMENT}, the standard's limit)",
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="send a heartbeat after SECONDS without sending anything (60)",
    )
    parser.add_argument(
        "--answer-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="wait this long for a 9014 before sending again (10, 表 1)",
    )
    parser.add_argument(
        "--retries", type=int, default=3, help="resends before a longer pause (3, 表 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the values (0)")
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop by itself after SECONDS"
    )
    parser.set_defaults(handler=run)


def station_from(args: argparse.Namespace) -> VirtualStation:
    """The station the options describe (ValueError for options that do not fit)."""
    try:
        host, port = parse_address(args.to)
    except ValueError as error:
        raise ValueError(f"--to {error}") from None
    options = StationOptions(
        mn=args.mn,
        password=args.password,
        host=host,
        port=port,
        source=args.source,
        edition=args.edition,
        crc=args.crc,
        ack=not args.no_answer,
        rtd_interval_s=args.rtd_interval,
        min_interval_min=args.min_interval,
        backfill_h=args.backfill,
        speed=args.speed,
        split_at=args.split_at,
        heartbeat_s=args.heartbeat,
        answer_timeout_s=args.answer_timeout,
        retries=args.retries,
        seed=args.seed,
    )
    return build_station(options)


async def _run(station: VirtualStation, duration: float | None) -> None:
    stop = loop_stop_on_signals(duration)

    async def report() -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            print(progress(station), flush=True)

    reporter = asyncio.create_task(report())
    try:
        await station.run(stop)
    finally:
        reporter.cancel()
        forget_loop_signals()


def run(args: argparse.Namespace) -> int:
    """Run until interrupted or ``--duration``: 0 after a clean stop, 2 for bad options."""
    try:
        station = station_from(args)
    except ValueError as error:
        print(f"envgrid sim hj212: {error}", file=sys.stderr)
        return 2
    identity = station.identity
    print(
        f"hj212 {identity.mn}: ST={identity.st} edition {identity.edition.value} "
        f"crc {identity.crc.value} to {station.link.host}:{station.link.port}",
        flush=True,
    )
    asyncio.run(_run(station, args.duration))
    print(progress(station), flush=True)
    return 0
