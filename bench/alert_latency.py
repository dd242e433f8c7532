"""Alert latency: a reading over its limit → the case on the API's live feed, under load.

A township of ``--nodes`` water-body nodes publishes ``--rate`` readings/s in all (default
5,000/s), every value inside its GB 3838 class III limits, through its own Mosquitto to
``envgrid cloud`` (two ingest workers with the rules on, and the API). A client listens on
``GET /api/v1/cases/live``. Then, one at a time, each of ``--probes`` probe sites gets one
reading with COD over its limit; we time publish → the new case's event on the live feed.

Printed: p50 / p95 / p99 / max latency, and the same for the baseline measured alongside: a
bare subscriber on the probe topics (publish → the broker delivers); the background rate the
database really took, and whether the background raised any case (it must not). Run:
``.venv/bin/python -m bench.alert_latency`` (about two minutes) or ``--probes 50`` (quicker).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, LiteralString

import httpx
import orjson
import paho.mqtt.client as mqtt
import psycopg

from bench.support import bench_database, exit_on_sigterm
from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_cli.services.ports import free_port
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
            "INSERT INTO officers (id, name, role, cell_id) VALUES "
            "('lat-officer', '值班网格员', 'grid_officer', %s), "
            "('lat-reviewer', '镇审核员', 'reviewer', %s)",
            [VILLAGE, TOWN],
        )


def normal_reading(seq: int, rng: random.Random) -> bytes:
    """A reading well inside class III (COD ≤ 20, NH3-N ≤ 1.0, DO ≥ 5, pH 6–9)."""
    values = {
        "cod": round(rng.uniform(8, 14), 2),
        "nh3n": round(rng.uniform(0.2, 0.6), 3),
        "do": round(rng.uniform(6.5, 8.5), 2),
        "ph": round(rng.uniform(7.0, 7.8), 2),
    }
    ts = datetime.now(UTC).isoformat()
    return orjson.dumps({"seq": seq, "ts": ts, "values": values})


class Background:
    """``mosquitto_pub -l`` per node, fed lines at an even pace by one writer thread."""

    def __init__(self, port: int, topics: Topics, nodes: list[str], rate: float) -> None:
        binary = shutil.which("mosquitto_pub")
        if binary is None:
            raise SystemExit("mosquitto_pub is needed (apt-get install mosquitto-clients)")
        self.nodes, self.rate = nodes, rate
        self.sent = 0
        self._stop = threading.Event()
        self._procs: list[subprocess.Popen[bytes]] = []
        for node in nodes:
            argv = [binary, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-l", "-V", "mqttv5"]
            argv += ["-i", f"lat-pub-{node}-{uuid.uuid4().hex[:4]}", "-t", topics.readings(node)]
            self._procs.append(start_child(argv, stdin=subprocess.PIPE))
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Background:
        """Begin publishing."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and wait for every publisher to flush."""
        self._stop.set()
        self._thread.join()
        for proc in self._procs:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # a publisher already gone (signalled)
                proc.stdin.close()
        for proc in self._procs:
            if proc.wait(timeout=60) != 0:
                raise SystemExit(f"a background publisher failed ({proc.returncode})")

    def _run(self) -> None:
        rng = random.Random(7)
        pipes: list[IO[bytes]] = [p.stdin for p in self._procs if p.stdin is not None]
        seqs = [0] * len(pipes)
        tick = 0.02  # write every 20 ms what the rate asks for by then
        start = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - start) * self.rate)
            try:
                while self.sent < due:
                    i = self.sent % len(pipes)
                    seqs[i] += 1
                    pipes[i].write(normal_reading(seqs[i], rng) + b"\n")
                    self.sent += 1
                for pipe in pipes:
                    pipe.flush()
            except BrokenPipeError:
                return  # the publishers were stopped under us (a signal): stop() reports it
            self._stop.wait(tick)


class LiveFeed:
    """Listens on the API's live feed; records when each site's first case event arrived."""

    def __init__(self, base: str) -> None:
        self._url = f"{base}/api/v1/cases/live"
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
                httpx.Client(timeout=httpx.Timeout(10, read=None)) as client,
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


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> None:
    """Run the probes under load and print the figures."""
    exit_on_sigterm()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=5000.0, help="background readings/s (5000)")
    parser.add_argument("--nodes", type=int, default=100, help="background nodes (100)")
    parser.add_argument("--probes", type=int, default=200, help="breaches to time (200)")
    parser.add_argument("--workers", type=int, default=2, help="ingest workers (2)")
    parser.add_argument("--warmup-s", type=float, default=10.0, help="load before probing (10 s)")
    args = parser.parse_args()

    background = [f"lat-bg-{i:04d}" for i in range(args.nodes)]
    probes = [f"lat-probe-{i:04d}" for i in range(args.probes)]
    topics = Topics("envgrid")
    with (
        tempfile.TemporaryDirectory(prefix="envgrid-latency-") as tmp,
        bench_database("envgrid_latency") as db,
    ):
        work = Path(tmp)
        seed(db, township(background, probes))
        broker = MosquittoBroker(work / "broker").start()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVGRID_")}
        env |= {
            "ENVGRID_DATABASE_URL": db,
            "ENVGRID_MQTT_URL": broker.url,
            "ENVGRID_API_PORT": str(port),
            "ENVGRID_INGEST_WORKERS": str(args.workers),
            "ENVGRID_INGEST_CLIENT_ID": f"lat-{uuid.uuid4().hex[:6]}",
            "ENVGRID_LOG_LEVEL": "WARNING",
        }
        with (work / "cloud.log").open("ab") as cloud_log:
            cloud = start_child(
                [sys.executable, "-m", "envgrid_cli", "cloud"],
                env=env,
                stdout=cloud_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        load: Background | None = None
        feed: LiveFeed | None = None
        try:
            wait_healthy(base)
            feed = LiveFeed(base).start()
            time.sleep(2)  # ingest workers subscribed
            print(
                f"background: {args.nodes} nodes, {args.rate:g} readings/s; "
                f"{args.workers} ingest workers; {args.probes} probes",
                flush=True,
            )
            load = Background(broker.port, topics, background, args.rate).start()
            time.sleep(args.warmup_s)
            with psycopg.connect(db) as conn:
                before = _scalar(conn, "SELECT count(*) FROM readings")
            t_load = time.monotonic()
            echo = BrokerEcho(broker.url, [topics.readings(n) for n in probes]).start()
            latencies, baseline = probe_all(broker.url, topics, probes, feed, echo)
            echo.stop()
            with psycopg.connect(db) as conn:
                after = _scalar(conn, "SELECT count(*) FROM readings")
            stored_rate = (after - before) / (time.monotonic() - t_load)
            load.stop()
            load = None
            with psycopg.connect(db) as conn:
                background_cases = _scalar(
                    conn, "SELECT count(*) FROM cases WHERE site_id LIKE 'site-lat-bg-%%'"
                )
        finally:
            if feed is not None:
                feed.closing = True
            try:
                if load is not None:
                    load.stop()
            finally:  # whatever went wrong, the cloud and the broker must not outlive us
                cloud.terminate()
                cloud.wait(30)
                broker.stop()
        report(latencies, baseline, stored_rate, background_cases, args)


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
) -> tuple[list[float], list[float]]:
    """One breach per probe site, one at a time: latency to the live feed, and to the broker's
    bare subscriber (the baseline), in seconds."""
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
                    raise SystemExit(f"probe {i}: no case on the live feed within 15 s")
                time.sleep(0.001)
            latencies.append(feed.first_seen[site] - sent)
            baseline.append(echo.first_seen[topic] - sent)
            if (i + 1) % 50 == 0:
                print(f"  {i + 1} probes, p50 so far {statistics.median(latencies):.3f} s")
            time.sleep(rng.uniform(0.05, 0.25))  # probes land anywhere in a batch's window
    finally:
        client.disconnect()
        client.loop_stop()
    return latencies, baseline


def report(
    latencies: list[float],
    baseline: list[float],
    stored_rate: float,
    background_cases: int,
    args: argparse.Namespace,
) -> None:
    """Print the figures."""

    def line(values: list[float]) -> str:
        p50, p95, p99 = (percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99))
        worst = max(values) * 1000
        return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, max {worst:.0f} ms"

    print()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"background stored: {stored_rate:,.0f} readings/s (asked {args.rate:,.0f}); "
        f"cases from the background: {background_cases}"
    )
    print(f"baseline, publish → bare subscriber: {line(baseline)}")
    print(f"publish → case on the live feed:     {line(latencies)} over {len(latencies)} probes")
    ratio = percentile(latencies, 0.99) / percentile(baseline, 0.99)
    print(f"p99 ratio to the baseline: {ratio:.0f} ×; goal: p99 < 1000 ms")


def _scalar(conn: psycopg.Connection[Any], sql: LiteralString) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    main()
