"""What the benchmarks share: a throw-away database, and a registry for their nodes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from multiprocessing.synchronize import Event as MpEvent

import psycopg

from envgrid_cloud.db.migrate import migrate
from envgrid_common.lifecycle import die_with_parent
from envgrid_common.registry import GridCell, GridLevel, Node, Registry, Site, SiteCategory

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


def registry_for(
    nodes: Iterable[str], report_interval_s: float = 60.0, prefix: str = "bench"
) -> Registry:
    """One water-body site per node, in one township named ``prefix``, so the ingest knows them."""
    ids = list(nodes)  # read twice: for the sites and for the nodes
    county, town = f"{prefix}-county", f"{prefix}-town"
    cells = (
        GridCell(id=county, level=GridLevel.COUNTY, name=prefix),
        GridCell(id=town, level=GridLevel.TOWNSHIP, name=prefix, parent_id=county),
    )
    sites = tuple(
        Site(id=f"site-{n}", name=n, category=SiteCategory.WATER_BODY, cell_id=town) for n in ids
    )
    return Registry(
        cells=cells,
        sites=sites,
        nodes=tuple(
            Node(id=n, site_id=f"site-{n}", report_interval_s=report_interval_s) for n in ids
        ),
    )


# Waiting for a load to be taken --------------------------------------------------------------
@dataclass(frozen=True)
class Drained:
    """When the count first moved and when it reached its target (monotonic seconds)."""

    first_at: float
    first_n: int
    done_at: float
    total: int

    @property
    def rate(self) -> float:
        """Per second, from the first count seen to the target."""
        span = self.done_at - self.first_at
        return (self.total - self.first_n) / span if span > 0 else 0.0


def wait_taken(
    count: Callable[[], int], total: int, what: str, *, stall_s: float = 60, every_s: float = 5
) -> Drained:
    """Poll ``count()`` until it reaches ``total``, printing progress every ``every_s``.

    If it does not move for ``stall_s``, the system did not take the load: say how far it got,
    the rate it sustained and what is left, and end the benchmark.
    """
    start = time.monotonic()
    first_at, first_n, last_n = 0.0, 0, -1
    moved_at, report_at = start, start + every_s
    while True:
        now, n = time.monotonic(), count()
        if n and not first_at:
            first_at, first_n = now, n
        if n != last_n:
            last_n, moved_at = n, now
        rate = (n - first_n) / (now - first_at) if first_at and now > first_at else 0.0
        if n >= total:
            return Drained(first_at or now, first_n, now, total)
        if now - moved_at >= stall_s:
            raise SystemExit(
                f"the system did not take the load: {n:,} of {total:,} {what}, none for "
                f"{stall_s:g} s (sustained {rate:,.0f}/s before that); {total - n:,} left"
            )
        if now >= report_at:
            report_at = now + every_s
            print(f"    {n:>9,} of {total:,} {what} ({rate:,.0f}/s)", flush=True)
        time.sleep(0.1)


# The counting subscriber, in a process of its own --------------------------------------------
def _count(
    parent_pid: int,
    url: str,
    topic_filter: str,
    total: int,
    backlog: bool,
    ready: MpEvent,
    go: MpEvent,
    times: SynchronizedArray[float],  # when the first and the last message came
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
        count_out.value = count
        if count == 1:
            times[0] = time.time()
        if count == total:
            times[1] = time.time()
            done.set()

    def on_connect(client: mqtt.Client, *_: object) -> None:
        client.subscribe(topic_filter, qos=1)

    address = BrokerAddress.parse(url)
    client_id = f"bench-count-{uuid.uuid4().hex[:6]}"
    subscribed = threading.Event()
    client = new_client(client_id, address, persistent=backlog)
    client.on_connect = on_connect
    client.on_subscribe = lambda *_: subscribed.set()
    connect(client, address, persistent=backlog, session_expiry_s=3600, receive_maximum=65535)
    client.loop_start()
    subscribed.wait(15)
    if backlog:  # leave a session behind for the backlog to gather in; come back on "go"
        client.disconnect()
        client.loop_stop()
        ready.set()
        go.wait()
        client.reconnect()
    else:
        ready.set()
    client.on_message = on_message
    cpu_start = time.process_time()
    client.loop_start()
    done.wait(900)
    cpu_out.value = time.process_time() - cpu_start
    time.sleep(0.5)  # anything more would be a duplicate
    count_out.value = count
    client.disconnect()
    client.loop_stop()


class Counter:
    """A bare subscriber process counting ``total`` messages under ``topic_filter``.

    With ``backlog`` it subscribes with a persistent session and leaves; the broker queues
    what comes for it until :meth:`go`, when it comes back and counts.
    """

    def __init__(self, url: str, topic_filter: str, total: int, *, backlog: bool = False) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.total = total
        self._ready = ctx.Event()
        self._go = ctx.Event()
        self._times = ctx.Array("d", 2)
        self._count = ctx.Value("q", 0)
        self._cpu = ctx.Value("d", 0.0)
        self._proc = ctx.Process(
            target=_count,
            args=(
                os.getpid(),
                url,
                topic_filter,
                total,
                backlog,
                self._ready,
                self._go,
                self._times,
                self._count,
                self._cpu,
            ),
        )
        self._proc.start()
        if not self._ready.wait(15):
            self._proc.kill()
            raise SystemExit("the counting subscriber did not subscribe")

    def go(self) -> None:
        """Come back and count what was queued (backlog mode)."""
        self._go.set()

    @property
    def count(self) -> int:
        """Messages counted so far."""
        return int(self._count.value)

    def finish(self, stall_s: float = 60) -> Counted:
        """Wait for the total: when the first and last came, counts, CPU. Ends the benchmark,
        saying how far it got, if nothing more comes for ``stall_s``."""
        try:
            wait_taken(lambda: self.count, self.total, "received", stall_s=stall_s)
        finally:
            self._proc.join(5 if self.count >= self.total else 0)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
        first, last = self._times[0], self._times[1]
        return Counted(first, last, int(self._count.value), float(self._cpu.value))


@dataclass(frozen=True)
class Counted:
    """What a :class:`Counter` saw."""

    first: float
    last: float
    count: int
    cpu_s: float

    @property
    def rate(self) -> float:
        """Messages per second from the first to the last."""
        return (self.count - 1) / (self.last - self.first) if self.last > self.first else 0.0


# Site categories of the benchmarks' synthetic county, dealt to sites in turn.
CATEGORIES = ("water_body", "livestock_farm", "industrial", "refuse_point", "road_section")

Cell = tuple[str, str, str, str | None]
SiteRow = tuple[str, str, str, str]


def synthetic_county(
    county: str, town: str, villages: Sequence[str], n_sites: int
) -> tuple[list[Cell], list[SiteRow]]:
    """Grid cells (county, one township, its villages) and ``n_sites`` sites dealt over them."""
    cells: list[Cell] = [(county, "county", "基准县", None), (town, "township", "基准镇", county)]
    cells += [(v, "village", f"{i + 1}村", town) for i, v in enumerate(villages)]
    sites = [
        (
            f"site-{i:03d}",
            f"站点{i:03d}",
            CATEGORIES[i % len(CATEGORIES)],
            villages[i % len(villages)],
        )
        for i in range(n_sites)
    ]
    return cells, sites


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1), nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ingest_env(
    database_url: str, mqtt_url: str, topic_root: str, client_id: str, *, workers: int, rules: bool
) -> dict[str, str]:
    """The environment of a benchmark's ``envgrid cloud --ingest-only`` child."""
    return {
        "ENVGRID_DATABASE_URL": database_url,
        "ENVGRID_MQTT_URL": mqtt_url,
        "ENVGRID_TOPIC_ROOT": topic_root,
        "ENVGRID_INGEST_WORKERS": str(workers),
        "ENVGRID_INGEST_CLIENT_ID": client_id,
        "ENVGRID_LOG_LEVEL": "WARNING",
        "ENVGRID_RULES_ENABLED": "true" if rules else "false",
    }


def gateway_env(
    mqtt_url: str, node_root: str, cloud_root: str, gateway_id: str, buffer_path: str
) -> dict[str, str]:
    """The environment of a benchmark's gateway child: node root in, cloud root up."""
    return {
        "ENVGRID_MQTT_URL": mqtt_url,
        "ENVGRID_UPLINK_MQTT_URL": mqtt_url,
        "ENVGRID_TOPIC_ROOT": node_root,
        "ENVGRID_UPLINK_TOPIC_ROOT": cloud_root,
        "ENVGRID_GATEWAY_ID": gateway_id,
        "ENVGRID_GATEWAY_BUFFER_PATH": buffer_path,
        "ENVGRID_GATEWAY_STATUS_INTERVAL_S": "1",
        "ENVGRID_LOG_LEVEL": "WARNING",
    }
