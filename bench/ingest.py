"""Ingest throughput, measured in one run on one broker and one database.

(a) a bare paho subscriber that only counts messages: the receive ceiling;
(b) a raw COPY of the same rows into the same table: the storage ceiling (and the staged
    insert-on-conflict the ingest uses, for reference);
(c) the cloud ingest end to end: QoS 1, validated, deduplicated, publish → committed row;
(d) the same through the township gateway.

The load comes from separate light publishers: ``mosquitto_pub -l -q 1`` processes, one per
node, fed from prepared files. Rates are readings/s from the moment the publishers start to
the last message received (a) or committed (c, d). Run: ``.venv/bin/python -m bench.ingest``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import orjson
import psycopg

from bench.support import (
    Counter,
    bench_database,
    exit_on_sigterm,
    registry_for,
    start_publishers,
    wait_publishers,
)
from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_cloud.registry.store import upsert_registry
from envgrid_common.lifecycle import start_child
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
    """Publishers → broker → a paho subscriber that only counts."""
    counter = Counter(broker.url, load.topics.any_node(NodeChannel.READINGS), load.total)
    started = time.time()
    wait_publishers(start_publishers(broker.port, load.topics, load.nodes, load.files))
    last, _, _ = counter.finish()
    return load.total / (last - started)


# (b) -----------------------------------------------------------------------------------------
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
        with conn.cursor().copy(
            "COPY readings (node_id, ts, seq, vals, historical) FROM STDIN"
        ) as copy:
            copy.write(block)
        conn.commit()
        raw = load.total / (time.perf_counter() - started)

        conn.execute("TRUNCATE readings")
        conn.execute(
            "CREATE TEMP TABLE staging (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy(
            "COPY staging (node_id, ts, seq, vals, historical) FROM STDIN"
        ) as copy:
            copy.write(block)
        conn.execute("INSERT INTO readings SELECT * FROM staging ON CONFLICT DO NOTHING")
        conn.commit()
        staged = load.total / (time.perf_counter() - started)
        conn.execute("TRUNCATE readings")
        conn.commit()
    return raw, staged


# (c), (d) ------------------------------------------------------------------------------------
def _run_child(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return start_child(
            [sys.executable, "-m", "envgrid_cli", *argv],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_rows(database_url: str, total: int, timeout_s: float = 600) -> float:
    """Poll until ``total`` readings are committed; return when that was seen."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM readings").fetchone()
            if row is not None and row[0] >= total:
                return time.time()
            time.sleep(0.05)
    raise SystemExit(f"only part of {total} readings arrived in {timeout_s}s")


def _check_exactly_once(database_url: str, load: Load) -> tuple[int, int]:
    """Stored rows and distinct (node, seq): both must equal what was published."""
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
    return stored, distinct


def case_ingest(
    broker: MosquittoBroker,
    database_url: str,
    load: Load,
    workdir: Path,
    *,
    workers: int,
    via_gateway: bool,
    rules: bool = True,
) -> float:
    """Publishers → (gateway →) broker → ingest worker(s) (judging by the rules) → rows."""
    # A topic root per case, and sessions that end with the process: an offline session of
    # an earlier case would otherwise keep taking its share of a shared subscription.
    run_id = uuid.uuid4().hex[:6]
    node_topics = Topics(f"{load.topics.root}-{run_id}")
    cloud_topics = Topics(f"{node_topics.root}-cloud") if via_gateway else node_topics
    env = {
        "ENVGRID_SESSION_EXPIRY_S": "0",
        "ENVGRID_DATABASE_URL": database_url,
        "ENVGRID_MQTT_URL": broker.url,
        "ENVGRID_TOPIC_ROOT": cloud_topics.root,
        "ENVGRID_INGEST_WORKERS": str(workers),
        "ENVGRID_INGEST_CLIENT_ID": f"bench-ingest-{run_id}",
        "ENVGRID_LOG_LEVEL": "WARNING",
        "ENVGRID_RULES_ENABLED": "true" if rules else "false",
    }
    children = [_run_child(["cloud", "--ingest-only"], env, workdir / f"ingest-{run_id}.log")]
    if via_gateway:
        children.append(
            _run_child(
                ["gateway"],
                {
                    "ENVGRID_MQTT_URL": broker.url,
                    "ENVGRID_UPLINK_MQTT_URL": broker.url,
                    "ENVGRID_TOPIC_ROOT": node_topics.root,
                    "ENVGRID_UPLINK_TOPIC_ROOT": cloud_topics.root,
                    "ENVGRID_GATEWAY_SESSION_EXPIRY_S": "0",
                    "ENVGRID_GATEWAY_ID": f"bench-gw-{run_id}",
                    "ENVGRID_GATEWAY_BUFFER_PATH": str(workdir / f"gateway-{run_id}.sqlite"),
                    "ENVGRID_LOG_LEVEL": "WARNING",
                },
                workdir / f"gateway-{run_id}.log",
            )
        )
    try:
        time.sleep(3)  # subscriptions in place before the first message
        started = time.time()
        wait_publishers(start_publishers(broker.port, node_topics, load.nodes, load.files))
        finished = _wait_rows(database_url, load.total)
        _check_exactly_once(database_url, load)
        return load.total / (finished - started)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)


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
            ingest = partial(case_ingest, broker, db, load, workdir, rules=rules)
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
