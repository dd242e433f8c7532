"""What the benchmarks share: a throw-away database, and a registry for their nodes."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

import psycopg

from envgrid_cloud.db.migrate import migrate
from envgrid_common.lifecycle import die_with_parent, start_child
from envgrid_common.registry import GridCell, GridLevel, Node, Registry, Site, SiteCategory
from envgrid_common.topics import Topics

PG_ADMIN_URL = os.environ.get(
    "ENVGRID_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def exit_on_sigterm() -> None:
    """Let SIGTERM (``kill``, ``timeout``) unwind like Ctrl-C, so brokers and children stop.

    The benchmarks start brokers and envgrid processes in sessions of their own; without
    this, a terminated benchmark leaves them running and loading the machine.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@contextmanager
def bench_database(prefix: str = "envgrid_bench") -> Iterator[str]:
    """A fresh migrated database on the machine's PostgreSQL, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rpartition("/")[0] + f"/{name}"
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def registry_for(nodes: list[str], report_interval_s: float = 60.0) -> Registry:
    """One site per node, in one township, so the ingest knows them."""
    cells = (
        GridCell(id="bench-county", level=GridLevel.COUNTY, name="bench"),
        GridCell(id="bench-town", level=GridLevel.TOWNSHIP, name="bench", parent_id="bench-county"),
    )
    sites = tuple(
        Site(id=f"site-{n}", name=n, category=SiteCategory.WATER_BODY, cell_id="bench-town")
        for n in nodes
    )
    return Registry(
        cells=cells,
        sites=sites,
        nodes=tuple(
            Node(id=n, site_id=f"site-{n}", report_interval_s=report_interval_s) for n in nodes
        ),
    )


def start_publishers(
    port: int, topics: Topics, nodes: Sequence[str], files: Sequence[Path]
) -> list[subprocess.Popen[bytes]]:
    """One ``mosquitto_pub -l -q 1`` per node, each publishing its file line by line."""
    binary = shutil.which("mosquitto_pub")
    if binary is None:
        raise SystemExit("mosquitto_pub is needed (apt-get install mosquitto-clients)")
    procs = []
    for node, path in zip(nodes, files, strict=True):
        argv = [binary, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-l"]
        argv += ["-M", "1000", "-V", "mqttv5", "-i", f"bench-pub-{node}-{uuid.uuid4().hex[:6]}"]
        argv += ["-t", topics.readings(node)]
        with path.open("rb") as stdin:
            procs.append(start_child(argv, stdin=stdin))
    return procs


def wait_publishers(procs: list[subprocess.Popen[bytes]], timeout_s: float = 900) -> None:
    """Every publisher must finish cleanly, or the figures mean nothing."""
    for proc in procs:
        if proc.wait(timeout=timeout_s) != 0:
            raise SystemExit(f"a publisher failed with status {proc.returncode}")


# The counting subscriber, in a process of its own --------------------------------------------
def _count(
    parent_pid: int,
    url: str,
    topic_filter: str,
    total: int,
    ready: MpEvent,
    last: Synchronized[float],
    count_out: Synchronized[int],
    cpu_out: Synchronized[float],
) -> None:
    die_with_parent(parent_pid)
    import paho.mqtt.client as mqtt

    from envgrid_common.mqtt import BrokerAddress, connect, new_client

    count = 0
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal count
        count += 1
        if count == total:
            last.value = time.time()
            done.set()

    def on_connect(client: mqtt.Client, *_: object) -> None:
        client.subscribe(topic_filter, qos=1)

    address = BrokerAddress.parse(url)
    client = new_client(f"bench-count-{uuid.uuid4().hex[:6]}", address)
    client.on_message = on_message
    client.on_connect = on_connect
    client.on_subscribe = lambda *_: ready.set()
    connect(client, address, receive_maximum=65535)
    cpu_start = time.process_time()
    client.loop_start()
    done.wait(900)
    cpu_out.value = time.process_time() - cpu_start
    time.sleep(0.5)  # anything more would be a duplicate
    count_out.value = count
    client.disconnect()
    client.loop_stop()


class Counter:
    """A bare subscriber process counting ``total`` messages under ``topic_filter``."""

    def __init__(self, url: str, topic_filter: str, total: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ready = ctx.Event()
        self._last = ctx.Value("d", 0.0)
        self._count = ctx.Value("q", 0)
        self._cpu = ctx.Value("d", 0.0)
        self._proc = ctx.Process(
            target=_count,
            args=(
                os.getpid(),
                url,
                topic_filter,
                total,
                self._ready,
                self._last,
                self._count,
                self._cpu,
            ),
        )
        self._proc.start()
        if not self._ready.wait(15):
            self._proc.kill()
            raise SystemExit("the counting subscriber did not subscribe")

    def finish(self, timeout_s: float = 900) -> tuple[float, int, float]:
        """When the last message came, how many came in all, and the counter's CPU seconds."""
        self._proc.join(timeout_s)
        if self._proc.is_alive():
            self._proc.kill()
            raise SystemExit(f"only {self._count.value} messages were counted")
        return self._last.value, self._count.value, self._cpu.value
