"""``envgrid replay --what-if``: a feed replayed on its clock into scratch databases, without and
with a site's rule overrides, and the cases that would have differed.

Both runs start a cloud of their own (``envgrid cloud --ingest-only`` on ``ENVGRID_CLOCK=feed``,
under a topic root of their own) and replay the feed into it at full speed with
``--feed-clock``. The registry is the live database's (``ENVGRID_DATABASE_URL``), copied. The
CLI holds this together because it alone may use both the simulator's replay and the cloud.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg

from envgrid_cli.replay_sites import SiteSelectionError, add_site_nodes
from envgrid_cloud.settings import CloudSettings
from envgrid_cloud.whatif.compare import CaseSummary, read_cases, report
from envgrid_cloud.whatif.scratch import (
    WhatIfError,
    create_scratch,
    drop_scratch,
    ingest_ready,
    parse_overrides,
    prepare,
)
from envgrid_common.clock import decode_tick
from envgrid_common.lifecycle import start_child
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from envgrid_common.topics import Topics
from envgrid_sim.feeds import replay_command
from envgrid_sim.feeds.format import FeedError
from envgrid_sim.feeds.reader import FeedReader, feed_files

WHAT_IF_HELP = """\
--what-if replays the feed twice on its clock into scratch databases beside
ENVGRID_DATABASE_URL (made from its registry, dropped after): without and with
--override RULE.FIELD=VALUE for --site SITE (merged over the site's own overrides, checked
against its rule pack), and prints the cases the site would have had, and every case that
would have been raised, not raised, or raised otherwise. --database-url URL keeps the run with
the overrides in that (empty) database instead."""

# How long a cloud may take to be ready, and its sweeps may stand still before the feed's end.
READY_S = 60.0
SETTLE_S = 120.0


def register_options(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add --what-if and its options to ``replay`` (registered before by the simulator)."""
    parser = commands.choices["replay"]
    group = parser.add_argument_group("what-if", WHAT_IF_HELP)
    group.add_argument("--what-if", action="store_true", help="compare a site's rule overrides")
    group.add_argument(
        "--site",
        action="append",
        default=[],
        metavar="SITE",
        help="with --what-if: the site the overrides are for; without: replay only the nodes "
        "of this site, from the registry at ENVGRID_DATABASE_URL (repeatable)",
    )
    group.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="RULE.FIELD=VALUE",
        help="a rule override, e.g. codmn.above=4 (repeatable)",
    )
    group.add_argument(
        "--database-url", metavar="URL", help="an empty database for the run with the overrides"
    )
    group.add_argument(
        "--feed-root",
        metavar="ROOT",
        help="the topic root the feed was recorded under (default ENVGRID_TOPIC_ROOT)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """A plain replay, or a what-if run: 0 done, 1 a run failed, 2 cannot run as asked."""
    if not args.what_if:
        if args.site:
            try:
                added = add_site_nodes(args)
            except SiteSelectionError as error:
                sys.stderr.write(f"envgrid replay: {error}\n")
                return 2
            sys.stderr.write(f"replay: the nodes of {', '.join(args.site)}: {', '.join(added)}\n")
        return replay_command.run(args)
    settings = CloudSettings()
    try:
        if len(args.site) != 1:
            raise WhatIfError("--what-if needs one --site")
        args.site = args.site[0]
        overrides = parse_overrides(args.override)
        files = [path.resolve() for path in feed_files(args.files)]
        last_ns = max(b.last_ns for path in files for b in FeedReader(path).blocks())
    except (WhatIfError, OSError, FeedError, ValueError) as error:
        sys.stderr.write(f"envgrid replay --what-if: {error}\n")
        return 2
    feed_root = args.feed_root or settings.topic_root
    results: list[list[CaseSummary]] = []
    for label, wanted, given in (
        ("without the overrides", None, None),
        ("with the overrides", overrides, args.database_url),
    ):
        sys.stderr.write(f"what-if: replaying {label}\n")
        url = given or create_scratch(settings.database_url)
        try:
            prepare(url, settings.database_url, args.site, wanted)
            replay_on_feed_clock(url, settings, args, files, feed_root, last_ns)
            results.append(read_cases(url))
        except (WhatIfError, psycopg.Error, RuntimeError) as error:
            sys.stderr.write(f"envgrid replay --what-if: {error}\n")
            return 2 if isinstance(error, WhatIfError) else 1
        finally:
            if given is None:
                drop_scratch(url)
    for line in report(args.site, results[0], results[1]):
        print(line)
    return 0


def replay_on_feed_clock(
    url: str,
    settings: CloudSettings,
    args: argparse.Namespace,
    files: list[Path],
    feed_root: str,
    last_ns: int,
) -> None:
    """Start a cloud on the feed's clock on ``url``, replay the feed into it, wait for the
    sweeps at the feed's end, stop the cloud."""
    run_id = uuid.uuid4().hex[:8]
    topics = Topics(f"whatif-{run_id}/envgrid")
    mqtt_url = args.mqtt_url or settings.mqtt_url
    env = {
        **os.environ,
        "ENVGRID_DATABASE_URL": url,
        "ENVGRID_MQTT_URL": mqtt_url,
        "ENVGRID_TOPIC_ROOT": topics.root,
        "ENVGRID_CLOCK": "feed",
        "ENVGRID_INGEST_WORKERS": str(settings.ingest_workers),
        "ENVGRID_INGEST_CLIENT_ID": f"whatif-{run_id}",
        "ENVGRID_INGEST_SHARE_GROUP": f"whatif-{run_id}",
        "ENVGRID_CASE_TOPICS_ENABLED": "false",
        "ENVGRID_NOTIFY_ENABLED": "false",
    }
    swept = _Swept(BrokerAddress.parse(mqtt_url), topics)
    with tempfile.TemporaryFile() as log:
        cloud = start_child(
            [sys.executable, "-m", "envgrid_cli", "cloud", "--ingest-only"],
            sig=signal.SIGTERM,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(url, f"whatif-{run_id}", settings.ingest_workers, cloud)
            command = [sys.executable, "-m", "envgrid_cli", "replay", *map(str, files)]
            command += ["--max", "--feed-clock", "--tick-s", str(args.tick_s)]
            command += ["--topic-root", f"{feed_root}:{topics.root}"]
            for spec in args.filter:
                command += ["--filter", spec]
            for node in args.node:
                command += ["--node", node]
            done = subprocess.run(command, env=env, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"the replay ended with status {done.returncode}")
            if not swept.reached(last_ns, SETTLE_S, cloud):
                log.seek(0)
                tail = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"the cloud did not decide the feed's end in time:\n{tail}")
        finally:
            swept.close()
            if cloud.poll() is None:
                cloud.send_signal(signal.SIGTERM)
                try:
                    cloud.wait(60)
                except subprocess.TimeoutExpired:
                    cloud.kill()
                    cloud.wait()


def _wait_ready(url: str, client_prefix: str, workers: int, cloud: subprocess.Popen[bytes]) -> None:
    """Until the cloud's ingest workers have reported themselves (subscribed by then)."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if cloud.poll() is not None:
            raise RuntimeError(f"the what-if cloud ended with status {cloud.returncode}")
        if ingest_ready(url, client_prefix) >= workers:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the what-if cloud was not ready in {READY_S:g} s")


class _Swept:
    """Listens for the cloud's ``clock/swept``: how far its decisions have come."""

    def __init__(self, address: BrokerAddress, topics: Topics) -> None:
        self._at = -1
        self._moved = threading.Condition()
        self._subscribed = threading.Event()
        self._client = new_client(f"{topics.root.split('/')[0]}-watch", address)
        self._client.on_connect = lambda c, *_: c.subscribe(topics.clock_swept(), qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        connect(self._client, address)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise RuntimeError(f"no subscription on {address} in 10 s")

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            at = decode_tick(message.payload)
        except ValueError:
            return
        with self._moved:
            self._at = max(self._at, at)
            self._moved.notify_all()

    def reached(self, feed_ns: int, timeout_s: float, cloud: subprocess.Popen[bytes]) -> bool:
        """Wait until the sweeps have reached ``feed_ns``; False if they stop moving for
        ``timeout_s`` (the cloud may trail a fast replay by long, but not stand still)."""
        deadline = time.monotonic() + timeout_s
        with self._moved:
            seen = self._at
            while self._at < feed_ns:
                if self._at > seen:
                    seen, deadline = self._at, time.monotonic() + timeout_s
                left = deadline - time.monotonic()
                if left <= 0 or cloud.poll() is not None:
                    return False
                self._moved.wait(min(left, 1.0))
        return True

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
