"""Recovery after an uplink outage: how long from the end of the outage until the backlog is stored.

A township of ``--nodes`` nodes, each sending one reading every ``--interval-s`` seconds
(default 500 nodes every 10 s = 50 readings/s), publishes through its own township broker
and ``envgrid gateway`` to its own cloud broker and ``envgrid cloud --ingest-only``. After a
live warm-up the cloud broker is stopped for ``--outage-s`` (default 600 s: 30,000 readings
of backlog) while the nodes keep publishing; the gateway holds what it cannot forward. Then
the cloud broker comes back, live readings keep coming, and we measure:

- recovery time: outage end → every reading published before the outage ended is committed;
- drain rate: backlog / recovery time;
- exactly-once: at the end, every published reading is in the database once.

The load is one light paho publisher process with one topic per node. Run:
``.venv/bin/python -m bench.recovery --outage-s 60`` (quick) or without options (10 minutes).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.reasoncodes import ReasonCode

from bench.support import bench_database, exit_on_sigterm, registry_for, wait_taken
from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_cloud.registry.store import upsert_registry
from envgrid_common.lifecycle import start_child
from envgrid_common.mqtt import BrokerAddress, check_publish, connect, new_client
from envgrid_common.topics import Topics


class Township:
    """``nodes`` nodes publishing in rounds: round r is every node's reading with seq r."""

    def __init__(self, url: str, topics: Topics, nodes: list[str], interval_s: float) -> None:
        self.nodes = nodes
        self.interval_s = interval_s
        self._topics = topics
        self._address = BrokerAddress.parse(url)
        self._client = new_client(f"bench-township-{uuid.uuid4().hex[:6]}", self._address)
        self._client.on_publish = self._on_publish
        self._lock = threading.Lock()
        self.published = 0
        self.acked = 0
        self.failed = 0
        self.rounds_done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="township", daemon=True)
        self._t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)

    def start(self) -> Township:
        """Connect and start publishing rounds."""
        connect(self._client, self._address)
        self._client.loop_start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finish the current round and stop publishing."""
        self._stop.set()
        self._thread.join()

    def wait_acked(self, timeout_s: float) -> bool:
        """Wait until the township broker has acknowledged everything published."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.acked >= self.published:
                    return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def _run(self) -> None:
        # Each node's readings are spread over the interval, as independent nodes would be.
        gap = self.interval_s / len(self.nodes)
        started = time.monotonic()
        seq = 0
        while not self._stop.is_set():
            seq += 1
            ts = (self._t0 + timedelta(seconds=seq * self.interval_s)).isoformat()
            for i, node in enumerate(self.nodes):
                due = started + (seq - 1) * self.interval_s + i * gap
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                payload = orjson.dumps({"seq": seq, "ts": ts, "values": {"cod": 20.0 + seq % 7}})
                check_publish(self._client.publish(self._topics.readings(node), payload, qos=1))
                with self._lock:
                    self.published += 1
            self.rounds_done = seq

    def _on_publish(self, _c: mqtt.Client, _u: Any, _mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._lock:
            if reason.is_failure:
                self.failed += 1
            else:
                self.acked += 1


def _child(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENVGRID_")}
    with log.open("ab") as out:
        return start_child(
            [sys.executable, "-m", "envgrid_cli", *argv],
            env={**clean, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class Rows:
    """Counts stored readings on one connection kept open (a connection per poll would cost
    the database more CPU than the drain being measured)."""

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True, connect_timeout=5)

    def count(self, max_seq: int | None = None) -> int:
        """Readings stored (with seq ≤ ``max_seq``)."""
        if max_seq is None:
            row = self._conn.execute("SELECT count(*) FROM readings").fetchone()
        else:
            row = self._conn.execute(
                "SELECT count(*) FROM readings WHERE seq <= %s", (max_seq,)
            ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def main() -> None:
    """Run one outage and print the figures."""
    exit_on_sigterm()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=500, help="nodes in the township (500)")
    parser.add_argument(
        "--interval-s", type=float, default=10.0, help="seconds between a node's readings"
    )
    parser.add_argument("--outage-s", type=float, default=600.0, help="uplink outage (600 s)")
    parser.add_argument("--warmup-s", type=float, default=20.0, help="live traffic before the cut")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="envgrid-recovery-") as tmp,
        bench_database("envgrid_recovery") as db,
    ):
        work = Path(tmp)
        nodes = [f"rec-node-{i:04d}" for i in range(args.nodes)]
        with psycopg.connect(db) as conn:
            upsert_registry(conn, registry_for(nodes, report_interval_s=10))
        township = MosquittoBroker(work / "township").start()
        cloud = MosquittoBroker(work / "cloud").start()
        topics = Topics("envgrid")
        children = [
            _child(
                ["cloud", "--ingest-only"],
                {
                    "ENVGRID_DATABASE_URL": db,
                    "ENVGRID_MQTT_URL": cloud.url,
                    "ENVGRID_INGEST_CLIENT_ID": "recovery-ingest",
                    "ENVGRID_LOG_LEVEL": "INFO",
                },
                work / "cloud.log",
            ),
            _child(
                ["gateway"],
                {
                    "ENVGRID_MQTT_URL": township.url,
                    "ENVGRID_UPLINK_MQTT_URL": cloud.url,
                    "ENVGRID_GATEWAY_ID": "recovery-gw",
                    "ENVGRID_GATEWAY_BUFFER_PATH": str(
                        Path(tempfile.mkdtemp(prefix="envgrid-gw-")) / "buffer.sqlite"
                    ),
                    "ENVGRID_LOG_LEVEL": "INFO",
                },
                work / "gateway.log",
            ),
        ]
        load = None
        rows = Rows(db)
        try:
            time.sleep(3)  # gateway and ingest subscribed before the first reading
            rate = args.nodes / args.interval_s
            print(
                f"{args.nodes} nodes × 1 reading / {args.interval_s:g} s = {rate:g} readings/s; "
                f"outage {args.outage_s:g} s",
                flush=True,
            )
            load = Township(township.url, topics, nodes, args.interval_s).start()
            time.sleep(args.warmup_s)
            at_cut = load.published
            stored_at_cut = rows.count()
            print(
                f"live: {at_cut} published, {stored_at_cut} stored; cutting the uplink", flush=True
            )
            cloud.stop()
            cut = time.monotonic()
            while time.monotonic() - cut < args.outage_s:
                time.sleep(min(30.0, args.outage_s - (time.monotonic() - cut)))
                if time.monotonic() - cut < args.outage_s:
                    print(
                        f"  outage {time.monotonic() - cut:5.0f} s: {load.published} published",
                        flush=True,
                    )
            # Everything in rounds up to the one now complete was published before the end.
            last_round = load.rounds_done
            published_at_end = load.published
            stored_before = rows.count()
            cloud.start()
            restored = time.monotonic()
            backlog = args.nodes * last_round - stored_before
            print(
                f"uplink back: {published_at_end} published, {stored_before} stored; "
                f"backlog {backlog} readings (rounds ≤ {last_round})",
                flush=True,
            )
            drained = wait_taken(
                lambda: rows.count(last_round) - stored_before, backlog, "of the backlog stored"
            )
            first, recovery = drained.first_at, drained.done_at - restored
            time.sleep(min(args.interval_s, 5))  # some live traffic after the drain
            load.stop()
            if not load.wait_acked(120):
                raise SystemExit("the township broker did not acknowledge every reading")
            total = load.published
            wait_taken(rows.count, total, "stored")
            time.sleep(3)  # a duplicate or stray row would show by now
            with psycopg.connect(db) as conn:
                row = conn.execute(
                    "SELECT count(*), count(DISTINCT (node_id, seq)) FROM readings"
                ).fetchone()
            assert row is not None
            stored, distinct = int(row[0]), int(row[1])
            exact = stored == distinct == total
            print()
            machine = f"{platform.node()} {os.cpu_count()} cores"
            print(f"machine: {machine}, Python {platform.python_version()}")
            print(
                "| nodes | outage | backlog | first backlog row | recovery | drain rate | exact |"
            )
            print("|---:|---:|---:|---:|---:|---:|---|")
            print(
                f"| {args.nodes} | {args.outage_s:g} s | {backlog:,} | {first - restored:.1f} s "
                f"| {recovery:.1f} s | {backlog / recovery:,.0f} readings/s "
                f"| {'yes' if exact else 'NO'}: published {total}, stored {stored}, "
                f"distinct {distinct} |"
            )
            if not exact:
                raise SystemExit(1)
        finally:
            rows.close()
            if load is not None:
                load.close()
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
            township.stop()
            cloud.stop()


if __name__ == "__main__":
    main()
