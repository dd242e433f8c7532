"""``envgrid replay --max --feed-clock`` into a cloud on ``ENVGRID_CLOCK=feed``: how long a feed
of N readings takes, and what a tick costs.

A synthetic feed: the Luxi township's 22 sensor nodes, one reading each every ``--interval``
seconds of feed time for ``--minutes`` minutes (``ts`` = receive time, in May 2026). It is
replayed as ``envgrid replay --what-if`` replays (``envgrid_cli.what_if.replay_on_feed_clock``):
a scratch database with the Luxi registry, ``envgrid cloud --ingest-only`` on the feed's clock
with ``--workers`` ingest workers, the replay at full speed with ``--tick-s``, until the sweeps
have reached the feed's end. Printed: readings, ticks, seconds (the cloud's start, some 6 s
until its worker reports itself, and its stop included: run two lengths to take the slope),
readings/s, and seconds a tick. Point ``ENVGRID_MQTT_URL`` at a broker that queues what a
full-speed replay sends ahead of the cloud (configured as ``cli/envgrid_cli/services/
mosquitto.conf``): stock Mosquitto drops QoS 1 messages past 1000 queued for a subscriber.

Run: ``.venv/bin/python -m bench.feed_clock [--minutes 60 --interval 10 --tick-s 2 --workers 2]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg

from envgrid_cli.what_if import replay_on_feed_clock
from envgrid_cloud.registry.store import upsert_registry
from envgrid_cloud.settings import CloudSettings
from envgrid_cloud.whatif.scratch import create_scratch, drop_scratch
from envgrid_common.topics import Topics
from envgrid_sim.feeds.writer import FeedWriter
from envgrid_sim.scenarios.luxi import luxi_scenario

START = datetime(2026, 5, 1, tzinfo=UTC)
ROOT = "bench-feed"


def write_feed(path: Path, minutes: float, interval_s: float) -> tuple[int, int]:
    """The feed; how many readings, and the last receive time (ns)."""
    scenario = luxi_scenario()
    topics = Topics(ROOT)
    writer = FeedWriter(path, {})
    steps = int(minutes * 60 / interval_s)
    count = last_ns = 0
    for step in range(steps):
        for n, spec in enumerate(scenario.specs):
            at = START + timedelta(seconds=step * interval_s + n * interval_s / 50)
            reading = {"seq": step + 1, "ts": at.isoformat(), "values": {"ph": 7.0}}
            last_ns = int(at.timestamp() * 1e9)
            writer.add(
                last_ns,
                topics.readings(spec.node.id).encode(),
                1,
                False,
                b"",
                orjson.dumps(reading),
            )
            count += 1
    writer.close()
    return count, last_ns


def main() -> None:
    """Write, replay, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=10.0)
    # Under the nodes' 10 s: with several workers one node's readings are judged in the feed's
    # order from one tick to the next only.
    parser.add_argument("--tick-s", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ["ENVGRID_INGEST_WORKERS"] = str(args.workers)
    settings = CloudSettings()
    with tempfile.TemporaryDirectory() as folder:
        feed = Path(folder) / "bench.egfeed"
        count, last_ns = write_feed(feed, args.minutes, args.interval)
        url = create_scratch(settings.database_url)
        try:
            from envgrid_cloud.db.migrate import migrate

            migrate(url)
            with psycopg.connect(url) as conn:
                upsert_registry(conn, luxi_scenario().registry)
            live = settings.model_copy(update={"database_url": url})
            replay = argparse.Namespace(mqtt_url=None, tick_s=args.tick_s, filter=[], node=[])
            began = time.monotonic()
            replay_on_feed_clock(url, live, replay, [feed], ROOT, last_ns)
            took = time.monotonic() - began
        finally:
            drop_scratch(url)
    ticks = int(args.minutes * 60 / args.tick_s) + 2
    print(
        f"{count:,} readings, {args.minutes:g} min of feed, ~{ticks:,} ticks of {args.tick_s:g} s,"
        f" {args.workers} worker(s): {took:.1f} s (cloud start and stop included), "
        f"{count / took:,.0f} readings/s, {took / ticks * 1000:.0f} ms a tick"
    )


if __name__ == "__main__":
    main()
