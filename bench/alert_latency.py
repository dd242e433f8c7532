"""Alert latency: a reading over its limit → the case on the API's live feed, under load.

A township of ``--nodes`` water-body nodes publishes readings, every value inside its GB 3838
class III limits, through its own Mosquitto to ``envgrid cloud`` (two ingest workers with the
rules on, and the API); a client listens on ``GET /api/v1/cases/live``.

1. The load is raised step by step (``--rates``) until the cloud no longer keeps up, then tried
   once more between the last two rates: a rate is sustained when it was offered, the
   database takes at least 95 % of it, and the backlog (readings the broker took, not yet
   committed) neither grows nor exceeds one second of the load. Each step prints what was
   offered, what was stored, and the backlog.
2. At the highest sustained rate, and at 5,000/s where the machine sustains that, each of
   ``--probes`` probe sites gets one reading with COD over its limit, one at a time; we time
   publish → the new case's event on the live feed. A probe that sees no case within 15 s
   ends that level with what the system really took instead.

Printed per level: p50 / p95 / p99 / max latency, and the same for the baseline measured
alongside (a bare subscriber on the probe topics: publish → the broker delivers); the
background rate the database took; and whether the background raised any case (it must not).
Run: ``.venv/bin/python -m bench.alert_latency`` (a few minutes).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, LiteralString

import httpx
import orjson
import paho.mqtt.client as mqtt
import psycopg

from bench.load import PacedLoad
from bench.support import bench_database, exit_on_sigterm, percentile
from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_cli.services.ports import free_port
from envgrid_cloud.auth import accounts
from envgrid_cloud.registry.store import upsert_registry
from envgrid_common.lifecycle import start_child
from envgrid_common.mqtt import BrokerAddress, check_publish, connect, new_client
from envgrid_common.registry import GridCell, GridLevel, Node, Registry, Site, SiteCategory
from envgrid_common.topics import Topics

COUNTY, TOWN, VILLAGE = "lat-county", "lat-town", "lat-village"


def township(background: list[str], probes: list[str]) -> Registry:
    """One village of water-body sections: a site per node."""
    cells = (
        GridCell(id=COUNTY, level=GridLevel.COUNTY, name="基准县"),
        GridCell(id=TOWN, level=GridLevel.TOWNSHIP, name="基准镇", parent_id=COUNTY),
        GridCell(id=VILLAGE, level=GridLevel.VILLAGE, name="基准村", parent_id=TOWN),
    )
    nodes = [*background, *probes]
    sites = tuple(
        Site(id=f"site-{n}", name=n, category=SiteCategory.WATER_BODY, cell_id=VILLAGE)
        for n in nodes
    )
    return Registry(
        cells=cells,
        sites=sites,
        nodes=tuple(Node(id=n, site_id=f"site-{n}", report_interval_s=60) for n in nodes),
    )


def seed(db: str, registry: Registry) -> None:
    """The registry, class III targets, and an officer for the village (cases get dispatched)."""
    with psycopg.connect(db) as conn:
        upsert_registry(conn, registry)
        conn.execute("UPDATE sites SET target_class = 'III', water_type = 'river'")
        conn.execute(
            "INSERT INTO users (id, login, name, role, cell_id) VALUES "
            "('lat-officer', 'lat-officer', '值班网格员', 'grid_officer', %s), "
            "('lat-reviewer', 'lat-reviewer', '镇审核员', 'reviewer', %s)",
            [VILLAGE, TOWN],
        )


def normal_reading(seq: int) -> bytes:
    """A reading well inside class III (COD ≤ 20, NH3-N ≤ 1.0, DO ≥ 5, pH 6–9), stamped now."""
    rng = random.Random(seq)
    values = {
        "cod": round(rng.uniform(8, 14), 2),
        "nh3n": round(rng.uniform(0.2, 0.6), 3),
        "do": round(rng.uniform(6.5, 8.5), 2),
        "ph": round(rng.uniform(7.0, 7.8), 2),
    }
    return orjson.dumps({"seq": seq, "ts": datetime.now(UTC).isoformat(), "values": values})


class LiveFeed:
    """Listens on the API's live feed; records when each site's first case event arrived."""

    def __init__(self, base: str, token: str) -> None:
        self._url = f"{base}/api/v1/cases/live"
        self._headers = {"Authorization": f"Bearer {token}"}
        self.first_seen: dict[str, float] = {}
        self.events = 0
        self.connected = threading.Event()
        self.closing = False  # the cloud is being stopped: the stream ending is expected
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LiveFeed:
        """Connect in a thread of its own."""
        self._thread.start()
        if not self.connected.wait(15):
            raise SystemExit("the live feed did not answer")
        return self

    def _run(self) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=None), headers=self._headers) as client,
                client.stream("GET", self._url) as response,
            ):
                response.raise_for_status()
                self.connected.set()
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        at = time.perf_counter()
                        event = orjson.loads(line[5:])
                        self.events += 1
                        self.first_seen.setdefault(str(event.get("site_id")), at)
        except httpx.HTTPError as error:
            if not self.closing:
                print(f"the live feed broke: {error}", file=sys.stderr, flush=True)


def wait_healthy(base: str, timeout_s: float = 60) -> None:
    """Until the API answers /healthz."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the cloud did not come up (see cloud.log)")


# A rate is sustained only while what waits to be stored stays under this many seconds of it.
LAG_S = 1.0


@dataclass(frozen=True)
class Step:
    """What one load level did: offered (acknowledged by the broker) and stored, per second."""

    rate: float
    offered: float
    stored: float
    backlog_start: int
    backlog_end: int
    window_s: float

    @property
    def sustained(self) -> bool:
        """The load was offered, the database took ≥ 95 % of it, and the backlog held."""
        return not self.shortfall

    @property
    def shortfall(self) -> str:
        """Why the step was not sustained; empty if it was."""
        if self.offered < 0.95 * self.rate:
            return "the publishers and the broker on this machine could not offer it"
        if self.stored < 0.95 * self.offered:
            return "the database took less than 95 % of it"
        if self.backlog_end - self.backlog_start > 0.05 * self.offered * self.window_s:
            return "the backlog grew"
        if self.backlog_end > LAG_S * self.offered:
            return f"more than {LAG_S:g} s of readings waited to be stored"
        return ""

    def __str__(self) -> str:
        verdict = f"NOT sustained: {self.shortfall}" if self.shortfall else "sustained"
        return (
            f"{self.rate:>7,.0f}/s asked: {self.offered:>7,.0f}/s offered, "
            f"{self.stored:>7,.0f}/s stored, backlog {self.backlog_start:,} → "
            f"{self.backlog_end:,} over {self.window_s:.0f} s: {verdict}"
        )


class Cloud:
    """The broker, ``envgrid cloud`` and a live-feed listener, for the whole benchmark."""

    def __init__(self, work: Path, db: str, workers: int) -> None:
        self.db = db
        self.broker = MosquittoBroker(work / "broker").start()
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVGRID_")}
        env |= {
            "ENVGRID_DATABASE_URL": db,
            "ENVGRID_MQTT_URL": self.broker.url,
            "ENVGRID_API_PORT": str(port),
            "ENVGRID_INGEST_WORKERS": str(workers),
            "ENVGRID_INGEST_CLIENT_ID": f"lat-{uuid.uuid4().hex[:6]}",
            "ENVGRID_LOG_LEVEL": "WARNING",
        }
        with (work / "cloud.log").open("ab") as cloud_log:
            self.process = start_child(
                [sys.executable, "-m", "envgrid_cli", "cloud"],
                env=env,
                stdout=cloud_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.feed: LiveFeed | None = None

    def start(self) -> Cloud:
        """Wait until the API answers and listen to the live feed."""
        wait_healthy(self.base)
        # The live feed asks for a sign-in like any API: the township's reviewer sees its cases.
        with accounts.connect(self.db) as conn:
            name = f"bench-{uuid.uuid4().hex[:6]}"
            token, _ = accounts.issue_token(conn, "lat-reviewer", name, None)
        self.feed = LiveFeed(self.base, token).start()
        time.sleep(2)  # ingest workers subscribed
        return self

    def stored(self) -> int:
        """Readings committed so far."""
        with psycopg.connect(self.db) as conn:
            return _scalar(conn, "SELECT count(*) FROM readings")

    def forget_readings(self) -> None:
        """Empty the readings table between levels (idle ingest), so counting it stays cheap."""
        with psycopg.connect(self.db) as conn:
            conn.execute("TRUNCATE readings")

    def stop(self) -> None:
        """Stop the cloud, then the broker."""
        if self.feed is not None:
            self.feed.closing = True
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.broker.stop()


def measure(cloud: Cloud, topics: list[str], rate: float, warmup_s: float, window_s: float) -> Step:
    """Offer ``rate`` readings/s; after the warm-up, measure a window; stop and drain."""
    base_stored = cloud.stored()
    load = PacedLoad(cloud.broker.url, topics, rate, normal_reading).start()
    try:
        time.sleep(warmup_s)
        acked0, stored0, t0 = load.acked, cloud.stored() - base_stored, time.monotonic()
        time.sleep(window_s)
        acked1, stored1, t1 = load.acked, cloud.stored() - base_stored, time.monotonic()
    finally:
        _, acked = load.stop()
    step = Step(
        rate,
        (acked1 - acked0) / (t1 - t0),
        (stored1 - stored0) / (t1 - t0),
        acked0 - stored0,
        acked1 - stored1,
        t1 - t0,
    )
    drain(cloud, base_stored + acked)
    cloud.forget_readings()
    return step


def drain(cloud: Cloud, total: int, timeout_s: float = 120) -> None:
    """Wait until the database holds ``total`` readings; say so if it does not."""
    deadline = time.monotonic() + timeout_s
    while (stored := cloud.stored()) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"the backlog did not drain: {total - stored:,} readings left")
        time.sleep(0.2)


def search(
    cloud: Cloud, topics: list[str], rates: list[float], args: argparse.Namespace
) -> list[Step]:
    """Raise the load until it is no longer sustained, then try once between the last two."""
    steps: list[Step] = []
    for rate in rates:
        steps.append(measure(cloud, topics, rate, args.warmup_s, args.window_s))
        print(f"  {steps[-1]}", flush=True)
        if not steps[-1].sustained:
            break
    if len(steps) >= 2 and not steps[-1].sustained:
        between = round((steps[-2].rate + steps[-1].rate) / 2, -2)
        steps.insert(-1, measure(cloud, topics, between, args.warmup_s, args.window_s))
        print(f"  {steps[-2]}", flush=True)
    return steps


@dataclass
class Level:
    """Probes under one background rate."""

    rate: float
    latencies: list[float]
    baseline: list[float]
    stored_rate: float
    failure: str | None = None


def probe_level(
    cloud: Cloud, background: list[str], probes: list[str], rate: float, args: argparse.Namespace
) -> Level:
    """Probe each site once under ``rate`` readings/s of background."""
    assert cloud.feed is not None
    topics = Topics("envgrid")
    base_stored = cloud.stored()
    load = PacedLoad(
        cloud.broker.url, [topics.readings(n) for n in background], rate, normal_reading
    ).start()
    echo = BrokerEcho(cloud.broker.url, [topics.readings(n) for n in probes]).start()
    try:
        time.sleep(args.warmup_s)
        stored0, t0 = cloud.stored(), time.monotonic()
        latencies, baseline, failure = probe_all(cloud.broker.url, topics, probes, cloud.feed, echo)
        stored_rate = (cloud.stored() - stored0) / (time.monotonic() - t0)
        backlog = load.acked - (cloud.stored() - base_stored)
    finally:
        echo.stop()
        _, acked = load.stop()
    if failure is not None:
        failure += f"; the database took {stored_rate:,.0f} of {rate:,.0f}/s, backlog {backlog:,}"
    probes_sent = len(latencies) + (failure is not None)  # a probe that timed out was sent too
    drain(cloud, base_stored + acked + probes_sent)
    cloud.forget_readings()
    return Level(rate, latencies, baseline, stored_rate, failure)


def main() -> None:
    """Find the highest sustained rate, probe there and at 5,000/s, print the figures."""
    exit_on_sigterm()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates",
        default="1000,2000,3000,4000,5000,6500,8000,10000,13000,16000,20000",
        help="background rates to try, readings/s, ascending",
    )
    parser.add_argument("--nodes", type=int, default=100, help="background nodes (100)")
    parser.add_argument("--probes", type=int, default=100, help="breaches timed per level (100)")
    parser.add_argument("--workers", type=int, default=2, help="ingest workers (2)")
    parser.add_argument("--warmup-s", type=float, default=5.0, help="load before measuring (5 s)")
    parser.add_argument("--window-s", type=float, default=10.0, help="measuring window (10 s)")
    args = parser.parse_args()
    rates = sorted(float(r) for r in args.rates.split(","))

    background = [f"lat-bg-{i:04d}" for i in range(args.nodes)]
    probe_sets = {tag: [f"lat-probe-{tag}-{i:04d}" for i in range(args.probes)] for tag in "ab"}
    topics = Topics("envgrid")
    with (
        tempfile.TemporaryDirectory(prefix="envgrid-latency-") as tmp,
        bench_database("envgrid_latency") as db,
    ):
        seed(db, township(background, [p for ps in probe_sets.values() for p in ps]))
        cloud = Cloud(Path(tmp), db, args.workers)
        try:
            cloud.start()
            print(f"{args.nodes} background nodes, {args.workers} ingest workers", flush=True)
            steps = search(cloud, [topics.readings(n) for n in background], rates, args)
            sustained = [s.rate for s in steps if s.sustained]
            levels: list[Level] = []
            targets = (
                sorted({max(sustained)} | ({5000.0} if 5000 in sustained else set()))
                if sustained
                else []
            )
            for tag, rate in zip("ab", targets, strict=False):
                print(f"probing at {rate:,.0f} readings/s of background", flush=True)
                levels.append(probe_level(cloud, background, probe_sets[tag], rate, args))
            with psycopg.connect(db) as conn:
                background_cases = _scalar(
                    conn, "SELECT count(*) FROM cases WHERE site_id LIKE 'site-lat-bg-%%'"
                )
        finally:  # whatever went wrong, the cloud and the broker must not outlive us
            cloud.stop()
    report(steps, levels, background_cases, args)


class BrokerEcho:
    """The baseline: a bare subscriber on the probe topics; when each probe reached it."""

    def __init__(self, url: str, topics: list[str]) -> None:
        self._address = BrokerAddress.parse(url)
        self._topics = topics
        self.first_seen: dict[str, float] = {}
        self._subscribed = threading.Event()
        self._client = new_client(f"lat-echo-{uuid.uuid4().hex[:6]}", self._address)
        self._client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in self._topics])
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message

    def start(self) -> BrokerEcho:
        """Connect and subscribe."""
        connect(self._client, self._address)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise SystemExit("the baseline subscriber did not subscribe")
        return self

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        self.first_seen.setdefault(message.topic, time.perf_counter())


def probe_all(
    url: str, topics: Topics, probes: list[str], feed: LiveFeed, echo: BrokerEcho
) -> tuple[list[float], list[float], str | None]:
    """One breach per probe site, one at a time: latency to the live feed, and to the broker's
    bare subscriber (the baseline), in seconds; and why probing stopped early, if it did."""
    address = BrokerAddress.parse(url)
    client = new_client(f"lat-probe-{uuid.uuid4().hex[:6]}", address)
    connect(client, address, background=False)
    client.loop_start()
    rng = random.Random(11)
    latencies: list[float] = []
    baseline: list[float] = []
    try:
        for i, node in enumerate(probes):
            body = {"seq": 1, "ts": datetime.now(UTC).isoformat(), "values": {"cod": 45.0}}
            site, topic = f"site-{node}", topics.readings(node)
            sent = time.perf_counter()
            check_publish(client.publish(topic, orjson.dumps(body), qos=1))
            deadline = sent + 15
            while site not in feed.first_seen or topic not in echo.first_seen:
                if time.perf_counter() > deadline:
                    return latencies, baseline, f"probe {i}: no case on the live feed in 15 s"
                time.sleep(0.001)
            latencies.append(feed.first_seen[site] - sent)
            baseline.append(echo.first_seen[topic] - sent)
            if (i + 1) % 50 == 0:
                print(f"  {i + 1} probes, p50 so far {statistics.median(latencies):.3f} s")
            time.sleep(rng.uniform(0.05, 0.25))  # probes land anywhere in a batch's window
    finally:
        client.disconnect()
        client.loop_stop()
    return latencies, baseline, None


def report(
    steps: list[Step], levels: list[Level], background_cases: int, args: argparse.Namespace
) -> None:
    """Print the figures."""

    def line(values: list[float]) -> str:
        p50, p95, p99 = (percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99))
        worst = max(values) * 1000
        return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, max {worst:.0f} ms"

    print()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    sustained = [s for s in steps if s.sustained]
    if not sustained:
        print(f"no background rate was sustained; the lowest tried: {steps[0]}")
    else:
        print(f"highest sustained background: {max(s.rate for s in sustained):,.0f} readings/s")
    unsustained = [s for s in steps if not s.sustained]
    if unsustained:
        print(f"not sustained: {unsustained[0]}")
    if not any(s.rate == 5000 and s.sustained for s in steps):
        print("5,000 readings/s: not sustained on this machine (see the steps above)")
    for level in levels:
        print(f"background {level.rate:,.0f}/s asked, {level.stored_rate:,.0f}/s stored:")
        if level.failure:
            print(f"  the system did not keep up: {level.failure}")
        if level.latencies:
            print(f"  baseline, publish → bare subscriber: {line(level.baseline)}")
            print(
                f"  publish → case on the live feed:     {line(level.latencies)} "
                f"over {len(level.latencies)} probes"
            )
            ratio = percentile(level.latencies, 0.99) / percentile(level.baseline, 0.99)
            print(f"  p99 ratio to the baseline: {ratio:.0f} ×; goal: p99 < 1000 ms")
    print(f"cases raised by the background: {background_cases} (must be 0)")


def _scalar(conn: psycopg.Connection[Any], sql: LiteralString) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    main()
