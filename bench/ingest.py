"""Ingest throughput, measured in one run on one broker and one database.

(a) a bare paho subscriber that only counts messages: the receive ceiling;
(b) a raw COPY of the same rows into the same table: the storage ceiling (and the staged
    insert-on-conflict the ingest uses, for reference);
(c) the cloud ingest end to end: QoS 1, validated, judged by the rules, deduplicated,
    committed, acknowledged; with one worker and with two;
(d) the same through the township gateway.

Each case drains a backlog: the consumer's persistent session exists, the whole load is
published into it while the consumer is away (from Python publisher processes, each message
acknowledged by the broker), then the consumer comes back. A rate is messages from the first
to the last one received (a) or committed (c, d), so start-up time does not count and the
publishers do not compete for the CPU. The default load is an alarm storm: almost every
reading breaks its class III limit, so the rules work for each one. Every case is checked
exactly once; a case that stops making progress for ``--stall-s`` says how far it got and
what was left, and the benchmark fails. Run: ``.venv/bin/python -m bench.ingest``.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg
from psycopg import sql

from bench.load import publish_files
from bench.support import Counter, bench_database, exit_on_sigterm, registry_for, wait_taken
from bench.support import gateway_env as gateway_env_for
from bench.support import ingest_env as ingest_env_for
from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_cloud.registry.store import upsert_registry
from envgrid_common.lifecycle import start_child
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from envgrid_common.topics import NodeChannel, Topics

VALUES = ("cod", "nh3n", "tp", "ph", "do", "codmn", "turbidity", "flow")


@dataclass(frozen=True)
class Load:
    """The prepared readings: one file of JSON lines per publishing node."""

    topics: Topics
    nodes: list[str]
    files: list[Path]
    rows: list[tuple[str, datetime, int, bytes]]  # node, ts, seq, vals JSON: for the COPY case

    @property
    def total(self) -> int:
        return len(self.rows)


def prepare(workdir: Path, topics: Topics, publishers: int, per_node: int, n_values: int) -> Load:
    """Write the publishers' input files."""
    start = datetime.now(UTC) - timedelta(days=2)
    nodes = [f"bench-node-{i:02d}" for i in range(publishers)]
    files, rows = [], []
    for node in nodes:
        path = workdir / f"{node}.jsonl"
        with path.open("wb") as out:
            for seq in range(per_node):
                ts = start + timedelta(seconds=seq)
                vals = {
                    name: round(10 + (seq % 97) * 0.37 + i, 3)
                    for i, name in enumerate(VALUES[:n_values])
                }
                out.write(orjson.dumps({"seq": seq, "ts": ts.isoformat(), "values": vals}) + b"\n")
                rows.append((node, ts, seq, orjson.dumps(vals)))
        files.append(path)
    return Load(topics, nodes, files, rows)


# (a) -----------------------------------------------------------------------------------------
def case_bare(broker: MosquittoBroker, load: Load) -> float:
    """A backlog drained by a paho subscriber that only counts."""
    counter = Counter(
        broker.url, load.topics.any_node(NodeChannel.READINGS), load.total, backlog=True
    )
    publish_files(broker.url, [load.topics.readings(n) for n in load.nodes], load.files)
    counter.go()
    return counter.finish().rate


# (b) -----------------------------------------------------------------------------------------
def copy_into(conn: psycopg.Connection[Any], table: str, block: bytes) -> None:
    """COPY ``block`` (text format: node, ts, seq, vals, historical) into ``table``."""
    with conn.cursor().copy(
        sql.SQL("COPY {} (node_id, ts, seq, vals, historical) FROM STDIN").format(
            sql.Identifier(table)
        )
    ) as copy:
        copy.write(block)


def case_copy(database_url: str, load: Load) -> tuple[float, float]:
    """COPY the same rows straight into readings; then through a staging table + ON CONFLICT."""

    def text_block() -> bytes:
        lines = []
        for node, ts, seq, vals in load.rows:
            lines.append(
                b"%s\t%s\t%d\t%s\tf\n" % (node.encode(), ts.isoformat().encode(), seq, vals)
            )
        return b"".join(lines)

    block = text_block()
    with psycopg.connect(database_url) as conn:
        conn.execute("TRUNCATE readings")
        conn.commit()
        started = time.perf_counter()
        copy_into(conn, "readings", block)
        conn.commit()
        raw = load.total / (time.perf_counter() - started)

        conn.execute("TRUNCATE readings")
        conn.execute(
            "CREATE TEMP TABLE staging (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        conn.commit()
        started = time.perf_counter()
        copy_into(conn, "staging", block)
        conn.execute("INSERT INTO readings SELECT * FROM staging ON CONFLICT DO NOTHING")
        conn.commit()
        staged = load.total / (time.perf_counter() - started)
        conn.execute("TRUNCATE readings")
        conn.commit()
    return raw, staged


# (c), (d) ------------------------------------------------------------------------------------
def _run_child(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return start_child(
            [sys.executable, "-m", "envgrid_cli", *argv],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop_child(child: subprocess.Popen[bytes], name: str) -> None:
    """Ask for a clean stop (the session stays with the broker), as a user would."""
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        raise SystemExit(f"{name} did not stop within 30 s") from None


def _stored(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def _wait_workers(database_url: str, client_ids: list[str], timeout_s: float = 30) -> None:
    """Until every worker has reported (so it has subscribed)."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM ingest_workers WHERE client_id = ANY(%s)", (client_ids,)
            ).fetchone()
            if row is not None and row[0] == len(client_ids):
                return
            time.sleep(0.2)
    raise SystemExit(f"the ingest workers {client_ids} did not report in {timeout_s} s")


def _wait_gateway(url: str, topics: Topics, gateway_id: str, timeout_s: float = 30) -> None:
    """Until the gateway's retained status says online (it has subscribed)."""
    address = BrokerAddress.parse(url)
    online = threading.Event()
    client = new_client(f"bench-gw-watch-{uuid.uuid4().hex[:6]}", address)

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        if b'"online"' in message.payload:
            online.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(topics.gateway_status(gateway_id), qos=1)
    connect(client, address, background=False)
    client.loop_start()
    try:
        if not online.wait(timeout_s):
            raise SystemExit(f"the gateway did not come online in {timeout_s} s")
    finally:
        client.disconnect()
        client.loop_stop()


def _check_exactly_once(database_url: str, load: Load) -> None:
    """Stored rows and distinct (node, seq) must both equal what was published; then clear."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (node_id, seq)) FROM readings"
        ).fetchone()
        assert row is not None
        conn.execute("TRUNCATE readings, latest_values")
        conn.commit()
    stored, distinct = int(row[0]), int(row[1])
    if stored != load.total or distinct != load.total:
        raise SystemExit(f"published {load.total}, stored {stored}, distinct {distinct}")


def case_ingest(
    broker: MosquittoBroker,
    database_url: str,
    load: Load,
    workdir: Path,
    *,
    workers: int,
    via_gateway: bool,
    rules: bool,
    stall_s: float,
) -> float:
    """A backlog (through the gateway) drained by ingest worker(s) judging by the rules."""
    # A topic root per case: the sessions of an earlier case (kept, as deployed) never match.
    run_id = uuid.uuid4().hex[:6]
    node_topics = Topics(f"{load.topics.root}-{run_id}")
    cloud_topics = Topics(f"{node_topics.root}-cloud") if via_gateway else node_topics
    client_id = f"bench-ingest-{run_id}"
    ingest_env = ingest_env_for(
        database_url, broker.url, cloud_topics.root, client_id, workers=workers, rules=rules
    )
    gateway_id = f"bench-gw-{run_id}"
    gateway_env = gateway_env_for(
        broker.url,
        node_topics.root,
        cloud_topics.root,
        gateway_id,
        str(workdir / f"gateway-{run_id}.sqlite"),
    )
    ingest_log, gateway_log = workdir / f"ingest-{run_id}.log", workdir / f"gateway-{run_id}.log"
    # First the sessions, as a deployment has them: the consumer of the backlog then leaves.
    ingest = _run_child(["cloud", "--ingest-only"], ingest_env, ingest_log)
    gateway: subprocess.Popen[bytes] | None = None
    try:
        _wait_workers(database_url, [f"{client_id}-{i}" for i in range(workers)])
        if via_gateway:
            gateway = _run_child(["gateway"], gateway_env, gateway_log)
            _wait_gateway(broker.url, cloud_topics, gateway_id)
            _stop_child(gateway, "the gateway")
        else:
            _stop_child(ingest, "the ingest")
        publish_files(broker.url, [node_topics.readings(n) for n in load.nodes], load.files)
        print(f"    {load.total:,} readings queued; draining", flush=True)
        if via_gateway:
            gateway = _run_child(["gateway"], gateway_env, gateway_log)
        else:
            ingest = _run_child(["cloud", "--ingest-only"], ingest_env, ingest_log)
        with psycopg.connect(database_url, autocommit=True) as conn:
            drained = wait_taken(partial(_stored, conn), load.total, "committed", stall_s=stall_s)
        _check_exactly_once(database_url, load)
        return drained.rate
    finally:
        for child, name in ((gateway, "the gateway"), (ingest, "the ingest")):
            if child is not None and child.poll() is None:
                _stop_child(child, name)


def main() -> None:
    """Run every case and print the table."""
    exit_on_sigterm()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--publishers", type=int, default=4, help="publishing processes (nodes)")
    parser.add_argument("--per-node", type=int, default=50_000, help="readings per publisher")
    parser.add_argument("--values", type=int, default=4, help="values per reading")
    parser.add_argument("--cases", default="a,b,c,c2,d", help="which cases to run")
    parser.add_argument(
        "--stall-s", type=float, default=60.0, help="fail a case that commits nothing this long"
    )
    parser.add_argument(
        "--no-rules",
        action="store_true",
        help="ingest without judging by the rules (ENVGRID_RULES_ENABLED=false)",
    )
    args = parser.parse_args()
    rules = not args.no_rules
    cases = set(args.cases.split(","))
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="envgrid-bench-") as tmp,
        bench_database("envgrid_bench") as db,
    ):
        workdir = Path(tmp)
        topics = Topics(f"bench-{uuid.uuid4().hex[:6]}")
        load = prepare(workdir, topics, args.publishers, args.per_node, args.values)
        with psycopg.connect(db) as conn:
            upsert_registry(conn, registry_for(load.nodes))
        print(
            f"{load.total} readings of {args.values} values from {args.publishers} publishers",
            flush=True,
        )
        with MosquittoBroker(workdir / "broker") as broker:
            ingest = partial(
                case_ingest, broker, db, load, workdir, rules=rules, stall_s=args.stall_s
            )
            if "a" in cases:
                results["a"] = case_bare(broker, load)
                print(f"(a) bare paho subscriber      {results['a']:>9,.0f} readings/s", flush=True)
            if "b" in cases:
                results["b"], results["b_staged"] = case_copy(db, load)
                print(f"(b) raw COPY                  {results['b']:>9,.0f} rows/s", flush=True)
                print(
                    f"    staged COPY + ON CONFLICT {results['b_staged']:>9,.0f} rows/s", flush=True
                )
            if "c" in cases:
                results["c"] = ingest(workers=1, via_gateway=False)
                print(f"(c) cloud ingest, 1 worker    {results['c']:>9,.0f} readings/s", flush=True)
            if "c2" in cases:
                results["c2"] = ingest(workers=2, via_gateway=False)
                print(
                    f"    cloud ingest, 2 workers   {results['c2']:>9,.0f} readings/s", flush=True
                )
            if "d" in cases:
                results["d"] = ingest(workers=1, via_gateway=True)
                print(f"(d) through the gateway       {results['d']:>9,.0f} readings/s", flush=True)
    print()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"rules: {'on' if rules else 'off'}")
    print("| case | readings/s | values/s | ratio |")
    print("|---|---:|---:|---|")
    label = {
        "a": "(a) bare paho subscriber",
        "b": "(b) raw COPY",
        "b_staged": "(b) staged COPY + ON CONFLICT",
        "c": "(c) cloud ingest, 1 worker",
        "c2": "(c) cloud ingest, 2 workers",
        "d": "(d) via gateway",
    }
    for key, rate in results.items():
        ratio = ""
        if key in ("c", "c2", "d") and "a" in results:
            ratio = f"{rate / results['a']:.2f} × a"
        if key in ("c", "c2") and "b" in results:
            ratio += f", {rate / results['b']:.2f} × b"
        print(f"| {label[key]} | {rate:,.0f} | {rate * args.values:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
