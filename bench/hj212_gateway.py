"""Part 2 of the HJ 212 benchmark: sustained frames/s through the gateway to committed rows.

300 virtual 数采仪 (by default) hold one TCP connection each to the gateway's HJ 212 listener
and send 2017 real-time uploads (2011, four factors, Flag=5: each wants its 9014) as fast as
the listener takes them, a window of unanswered frames per connection, from a sender process
of its own. The listener turns them into readings (validate → disk buffer → uplink), one
ingest worker commits them to PostgreSQL. The rate is committed rows per second from the
first to the last row, counted in the database; every frame must be stored exactly once.

In the same run, on the same broker, database and ingest settings, the MQTT path is measured
as ``bench.ingest`` case (d) does: the same number of readings, published by MQTT nodes, drained
through the gateway into the ingest. The ratio HJ 212 / MQTT is printed. The MQTT load is a
backlog whose publishers have finished, while the HJ 212 senders run alongside (TCP has no
broker to hold a backlog): on a 2-core machine the senders' CPU counts against the HJ 212 path.

The gateway's own rate is printed too: frames stored in its disk buffer and answered (9014)
per second, seen by the units. Committed rows can lag far behind it: the ingest judges every
batch by the rules, and this load (300 nodes, values going over and under class III limits)
has them raise, update and clear far more cases than the MQTT load (4 nodes) does, one query
at a time inside the batch's transaction. ``--no-rules`` ingests both paths without the
rules, which leaves the two paths through the gateway to compare.

Run: ``.venv/bin/python -m bench.hj212 --gateway [--connections 300] [--frames 100]``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import psycopg
import yaml

from bench.ingest import _run_child, _stop_child, _wait_gateway, _wait_workers, case_ingest
from bench.ingest import prepare as prepare_mqtt
from bench.support import gateway_env as gateway_env_for
from bench.support import ingest_env as ingest_env_for
from bench.support import registry_for, wait_taken
from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_cloud.registry.store import upsert_registry
from envgrid_common.hj212 import (
    CrcMode,
    Edition,
    FrameError,
    StreamFramer,
    format_time,
    parse_frame,
    upload_frames,
)
from envgrid_common.lifecycle import die_with_parent
from envgrid_common.topics import Topics

WINDOW = 16  # unanswered frames a connection keeps in flight (a 数采仪 with a send queue)
PW = "123456"


@dataclass(frozen=True)
class Device:
    """One virtual unit of the load: its MN, node and frames (in order)."""

    mn: str
    node: str
    frames: list[bytes]


def prepare(connections: int, per_device: int) -> list[Device]:
    """The frames every unit sends: real-time data a second apart, two days ago."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    devices = []
    for d in range(connections):
        mn = f"010000A89000{d:012X}"
        frames = []
        for n in range(per_device):
            at = start + timedelta(seconds=n)
            factors = {
                "w01018": {"Rtd": f"{20 + (n + d) % 97 * 0.37:.2f}", "Flag": "N"},
                "w21003": {"Rtd": f"{1 + (n * 7 + d) % 31 * 0.05:.3f}", "Flag": "N"},
                "w21011": {"Rtd": f"{0.1 + n % 13 * 0.01:.3f}", "Flag": "N"},
                "w01001": {"Rtd": f"{7 + n % 9 * 0.05:.2f}", "Flag": "N"},
            }
            (frame,) = upload_frames(
                st="32",
                cn="2011",
                pw=PW,
                mn=mn,
                data_time=format_time(at),
                factors=factors,
                edition=Edition.HJ212_2017,
                qn=format_time(at, milliseconds=True),
                ack=True,
                crc=CrcMode.STANDARD,
            )
            frames.append(frame)
        devices.append(Device(mn, f"bench-hj-{d:03d}", frames))
    return devices


def device_table(devices: list[Device], path: Path) -> None:
    """The gateway's HJ 212 device table for the load's units (CRC pinned, strict)."""
    entries = [{"mn": d.mn, "node": d.node, "password": PW, "crc": "standard"} for d in devices]
    path.write_text(yaml.safe_dump({"devices": entries}), encoding="utf-8")


# The sender process ---------------------------------------------------------------------------
async def _unit(
    host: str, port: int, frames: list[bytes], answered: list[int], index: int
) -> str | None:
    """One unit: send its frames keeping ``WINDOW`` unanswered, count 9014s; None when done."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as error:
        return f"connect: {error}"
    window = asyncio.Semaphore(WINDOW)
    framer = StreamFramer()

    async def read() -> None:
        while answered[index] < len(frames) and (data := await reader.read(65536)):
            for item in framer.feed(data):
                if isinstance(item, FrameError):
                    continue
                try:
                    if parse_frame(item).cn == "9014":
                        answered[index] += 1
                        window.release()
                except FrameError:
                    continue

    reading = asyncio.create_task(read())
    try:
        for frame in frames:
            await window.acquire()
            writer.write(frame)
            await writer.drain()
        await asyncio.wait_for(reading, timeout=600)
    except (OSError, TimeoutError) as error:
        return f"{type(error).__name__}: {error}"
    finally:
        reading.cancel()
        writer.close()
    return None if answered[index] == len(frames) else "closed before every answer came"


async def _send_all(host: str, port: int, devices: list[list[bytes]]) -> tuple[int, list[str]]:
    answered = [0] * len(devices)
    problems = await asyncio.gather(
        *(_unit(host, port, frames, answered, i) for i, frames in enumerate(devices))
    )
    return sum(answered), [p for p in problems if p]


def _sender(
    parent_pid: int,
    host: str,
    port: int,
    devices: list[list[bytes]],
    answered: Synchronized[int],
    failed: Synchronized[int],
    took_s: Synchronized[float],
) -> None:
    die_with_parent(parent_pid)
    started = time.monotonic()
    total, problems = asyncio.run(_send_all(host, port, devices))
    took_s.value = time.monotonic() - started  # first connection to last answer
    answered.value, failed.value = total, len(problems)
    if problems:
        print(f"    {len(problems)} connection(s) failed, e.g. {problems[0]}", flush=True)


# The case --------------------------------------------------------------------------------------
def _stored(conn: psycopg.Connection[tuple[object, ...]], prefix: str) -> int:
    row = conn.execute("SELECT count(*) FROM readings WHERE node_id LIKE %s", (prefix + "%",))
    found = row.fetchone()
    return int(found[0]) if found else 0  # type: ignore[call-overload]


def case_hj212(
    broker: MosquittoBroker,
    database_url: str,
    devices: list[Device],
    workdir: Path,
    *,
    stall_s: float,
    rules: bool = True,
) -> tuple[float, float]:
    """Units over TCP → gateway listener → ingest (1 worker): committed rows/s, answered/s."""
    run_id = uuid.uuid4().hex[:6]
    node_topics = Topics(f"bench-hj-{run_id}")
    cloud_topics = Topics(f"{node_topics.root}-cloud")
    client_id = f"bench-ingest-{run_id}"
    table = workdir / f"hj212-devices-{run_id}.yaml"
    device_table(devices, table)
    port = free_port()
    ingest_env = ingest_env_for(
        database_url, broker.url, cloud_topics.root, client_id, workers=1, rules=rules
    )
    gateway_id = f"bench-gw-{run_id}"
    gateway_env = {
        **gateway_env_for(
            broker.url,
            node_topics.root,
            cloud_topics.root,
            gateway_id,
            str(workdir / f"gateway-{run_id}.sqlite"),
        ),
        "ENVGRID_HJ212_LISTEN": f"127.0.0.1:{port}",
        "ENVGRID_HJ212_DEVICES": str(table),
        "ENVGRID_HJ212_MAX_PER_ADDRESS": str(len(devices) + 10),
        "ENVGRID_HJ212_MAX_CONNECTIONS": str(len(devices) + 10),
    }
    logs = workdir / f"ingest-{run_id}.log", workdir / f"gateway-{run_id}.log"
    ingest = _run_child(["cloud", "--ingest-only"], ingest_env, logs[0])
    gateway: subprocess.Popen[bytes] | None = None
    sender: multiprocessing.process.BaseProcess | None = None
    total = sum(len(d.frames) for d in devices)
    try:
        _wait_workers(database_url, [f"{client_id}-0"])
        gateway = _run_child(["gateway"], gateway_env, logs[1])
        _wait_gateway(broker.url, cloud_topics, gateway_id)
        try:
            wait_for_port("127.0.0.1", port, timeout_s=30)
        except (OSError, TimeoutError):
            raise SystemExit(
                f"the gateway's HJ 212 listener did not open (see {logs[1]})"
            ) from None
        ctx = multiprocessing.get_context("spawn")
        answered, failed, took_s = ctx.Value("q", 0), ctx.Value("q", 0), ctx.Value("d", 0.0)
        frames = [d.frames for d in devices]
        sender = ctx.Process(
            target=_sender,
            args=(os.getpid(), "127.0.0.1", port, frames, answered, failed, took_s),
        )
        sender.start()
        print(f"    {len(devices)} units sending {total:,} frames", flush=True)
        with psycopg.connect(database_url, autocommit=True) as conn:
            count = partial(_stored, conn, "bench-hj-")
            drained = wait_taken(count, total, "committed", stall_s=stall_s)
        sender.join(120)
        if failed.value:
            raise SystemExit(f"{failed.value} unit(s) failed: the machine did not take the load")
        if answered.value != total:
            raise SystemExit(f"{answered.value:,} of {total:,} frames answered with 9014")
        answered_rate = total / took_s.value
        print(
            f"    gateway: {total:,} frames stored and answered in {took_s.value:.1f} s "
            f"({answered_rate:,.0f} frames/s, seen by the units)",
            flush=True,
        )
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT (node_id, seq)) FROM readings "
                "WHERE node_id LIKE 'bench-hj-%'"
            ).fetchone()
            assert row is not None
            conn.execute("TRUNCATE readings, latest_values")
            conn.commit()
        if (int(row[0]), int(row[1])) != (total, total):
            raise SystemExit(f"sent {total}, stored {row[0]}, distinct {row[1]}")
        return drained.rate, answered_rate
    finally:
        if sender is not None and sender.is_alive():
            sender.terminate()
            sender.join(10)
        for child, name in ((gateway, "the gateway"), (ingest, "the ingest")):
            if child is not None and child.poll() is None:
                _stop_child(child, name)


def run(
    broker: MosquittoBroker,
    database_url: str,
    workdir: Path,
    *,
    connections: int,
    per_device: int,
    stall_s: float,
    rules: bool = True,
) -> dict[str, Any]:
    """Both paths in one run; the figures, or what stopped the machine taking the load."""
    devices = prepare(connections, per_device)
    total = connections * per_device
    mqtt_publishers = 4
    mqtt_load = prepare_mqtt(
        workdir, Topics(f"bench-mq-{uuid.uuid4().hex[:6]}"), mqtt_publishers, total // 4, 4
    )
    with psycopg.connect(database_url) as conn:
        nodes = [d.node for d in devices] + list(mqtt_load.nodes)
        upsert_registry(conn, registry_for(nodes))
    results: dict[str, Any] = {"connections": connections, "frames": total, "rules": rules}
    print(f"  rules: {'on' if rules else 'off'} in both ingests", flush=True)
    started = time.monotonic()
    try:
        results["hj212_rate"], results["hj212_answered_rate"] = case_hj212(
            broker, database_url, devices, workdir, stall_s=stall_s, rules=rules
        )
        print(f"  HJ 212 over TCP: {results['hj212_rate']:,.0f} frames/s committed", flush=True)
    except SystemExit as stopped:
        results["hj212_failed"] = str(stopped)
        print(f"  HJ 212 over TCP: the machine could not take the load: {stopped}", flush=True)
    try:
        results["mqtt_rate"] = case_ingest(
            broker,
            database_url,
            mqtt_load,
            workdir,
            workers=1,
            via_gateway=True,
            rules=rules,
            stall_s=stall_s,
        )
        print(f"  MQTT via gateway: {results['mqtt_rate']:,.0f} readings/s committed", flush=True)
    except SystemExit as stopped:
        results["mqtt_failed"] = str(stopped)
        print(f"  MQTT via gateway: the machine could not take the load: {stopped}", flush=True)
    if results.get("hj212_rate") and results.get("mqtt_rate"):
        results["ratio_mqtt"] = results["hj212_rate"] / results["mqtt_rate"]
        print(f"  ratio HJ 212 / MQTT: {results['ratio_mqtt']:.2f}", flush=True)
    elif "hj212_rate" in results and "mqtt_rate" in results:
        # A load too small to measure commits in a rate: say so rather than divide by zero.
        print("  ratio HJ 212 / MQTT: not measured (a load too small for a rate)", flush=True)
    results["elapsed_s"] = time.monotonic() - started
    return results
