"""Fault tests' machinery: private brokers and database, envgrid as processes, paced publishing.

Components are driven only through their command lines, so their internals can change freely.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import orjson
import psycopg

from bench.support import registry_for
from envgrid_cli.services.mosquitto import SHIPPED_CONF, MosquittoBroker
from envgrid_cli.services.postgres import EmbeddedPostgres
from envgrid_common.lifecycle import start_child
from envgrid_common.topics import Topics
from tests.e2e.support import clean_env
from tests.mqtt_clients import Publisher

PROBE_NODE = "fault-probe"
# Source timestamps a day back: plausible to the validators, and apart from "now".
BASE_TS = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

Key = tuple[str, int]


def node_ids(count: int, prefix: str = "fault-node") -> list[str]:
    """``count`` node ids."""
    return [f"{prefix}-{i:03d}" for i in range(count)]


def reading(seq: int) -> bytes:
    """A valid reading with sequence number ``seq``."""
    ts = BASE_TS + timedelta(seconds=seq)
    return orjson.dumps(
        {"seq": seq, "ts": ts.isoformat(), "values": {"cod": 20 + seq % 13, "nh3n": 1.5}}
    )


def publish_paced(
    publisher: Publisher,
    topics: Topics,
    messages: list[tuple[str, bytes]],
    rate: float,
    during: Callable[[int], None] | None = None,
) -> list[float]:
    """Publish ``(node, payload)`` messages at ``rate`` per second; ``during(i)`` before each.

    Returns when each was handed over (``time.monotonic()``).
    """
    started = time.monotonic()
    handed: list[float] = []
    for i, (node, payload) in enumerate(messages):
        if during is not None:
            during(i)
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        handed.append(time.monotonic())
        publisher.publish(topics.readings(node), payload)
    return handed


def shipped_autosave_interval() -> float:
    """Seconds between the shipped Mosquitto's saves: how much a SIGKILL can lose."""
    text = resources.files("envgrid_cli.services").joinpath(SHIPPED_CONF).read_text()
    for line in text.splitlines():
        if line.startswith("autosave_interval "):
            return float(line.split()[1])
    return 1800.0  # Mosquitto's default


def interleave(nodes: list[str], per_node: int, first_seq: int = 1) -> list[tuple[str, bytes]]:
    """Readings of every node, round-robin, seq ``first_seq`` … — the order nodes would send."""
    return [(n, reading(s)) for s in range(first_seq, first_seq + per_node) for n in nodes]


@dataclass
class Component:
    """``envgrid ARGS`` as a process group of its own, so a SIGKILL takes its workers too."""

    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Component:
        """Start it (from any thread: it dies with the test run, not with the thread)."""
        with self.log.open("ab") as out:
            self.process = start_child(
                [sys.executable, "-m", "envgrid_cli", *self.argv],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL the whole group: no chance to flush, ack or say goodbye."""
        self._signal_group(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self._signal_group(signal.SIGTERM, timeout=30)

    def _signal_group(self, sig: signal.Signals, timeout: float = 15) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Outcome:
    """What one scenario sent and what the database ended up holding."""

    sent: int
    stored: int
    distinct: int
    duplicates: int
    dead: int
    missing: list[Key] = field(default_factory=list)
    extra: list[Key] = field(default_factory=list)

    def line(self, name: str) -> str:
        """The one line every fault test prints."""
        return (
            f"[{name}] sent {self.sent} / stored {self.stored} / duplicates {self.duplicates}"
            f" / dead-lettered {self.dead} / missing {len(self.missing)}"
        )


class DuplicateCounter:
    """Sums the ingest workers' duplicate counters across restarts, by polling ingest_workers.

    A restarted worker overwrites its row, so the last value of each incarnation (client id,
    started_at) is kept; what a killed worker counted after its last report is not seen, so
    this is a lower bound of the redeliveries the database absorbed.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._seen: dict[tuple[str, object], int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> DuplicateCounter:
        """Poll in the background."""
        self._thread.start()
        return self

    def total(self) -> int:
        """Stop polling (after one last look) and return the sum."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._poll()
        return sum(self._seen.values())

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._poll()

    def _poll(self) -> None:
        try:
            with psycopg.connect(self._url, connect_timeout=2) as conn:
                rows = conn.execute(
                    "SELECT client_id, started_at, duplicates FROM ingest_workers"
                ).fetchall()
        except psycopg.Error:
            return  # the database is being restarted: look again later
        for client_id, started_at, duplicates in rows:
            key = (client_id, started_at)
            self._seen[key] = max(self._seen.get(key, 0), int(duplicates))


@dataclass
class Stack:
    """Township broker → gateway → cloud broker → ingest → PostgreSQL, all private to one test."""

    root: Path
    nodes: list[str]
    api: bool = False
    township: MosquittoBroker = field(init=False)
    cloud_broker: MosquittoBroker = field(init=False)
    postgres: EmbeddedPostgres = field(init=False)
    pg_dir: Path = field(init=False)
    database_url: str = field(init=False)
    cloud: Component = field(init=False)
    gateway: Component = field(init=False)
    api_port: int = 0
    gateway_id: str = "fault-gw"
    topics: Topics = field(default_factory=lambda: Topics("envgrid"))

    def start(self) -> Stack:
        """Start servers, prepare the database, start cloud and gateway, prove the path works."""
        from envgrid_cli.services.ports import free_port
        from envgrid_cloud.db.migrate import migrate
        from envgrid_cloud.registry.store import upsert_registry

        self.root.mkdir(parents=True, exist_ok=True)
        self.township = MosquittoBroker(self.root / "township").start()
        self.cloud_broker = MosquittoBroker(self.root / "cloud-broker").start()
        # Outside pytest's base temp: the server runs as another user when we are root, and
        # any other pytest run on the machine resets that folder to mode 0700.
        self.pg_dir = Path(tempfile.mkdtemp(prefix="envgrid-fault-pg-"))
        self.pg_dir.chmod(0o755)
        self.postgres = EmbeddedPostgres(self.pg_dir / "pg")
        self.database_url = self.postgres.start()
        migrate(self.database_url)
        with psycopg.connect(self.database_url) as conn:
            upsert_registry(conn, registry_for([*self.nodes, PROBE_NODE], prefix="fault"))
        cloud_env = clean_env(
            ENVGRID_DATABASE_URL=self.database_url,
            ENVGRID_MQTT_URL=self.cloud_broker.url,
            ENVGRID_INGEST_CLIENT_ID="fault-ingest",
            ENVGRID_LOG_LEVEL="INFO",
        )
        argv = ["cloud", "--ingest-only"]
        if self.api:
            self.api_port = free_port()
            cloud_env["ENVGRID_API_PORT"] = str(self.api_port)
            argv = ["cloud"]
        self.cloud = Component(argv, cloud_env, self.root / "cloud.log").start()
        self.gateway = Component(
            ["gateway"],
            clean_env(
                ENVGRID_MQTT_URL=self.township.url,
                ENVGRID_UPLINK_MQTT_URL=self.cloud_broker.url,
                ENVGRID_GATEWAY_ID=self.gateway_id,
                ENVGRID_GATEWAY_BUFFER_PATH=str(self.root / "gateway-buffer.sqlite"),
                ENVGRID_LOG_LEVEL="INFO",
            ),
            self.root / "gateway.log",
        ).start()
        self.probe(1)
        return self

    def probe(self, first_seq: int, timeout_s: float = 60) -> None:
        """Send probe readings through the whole path until one is stored.

        A broker drops what nobody subscribes to yet, so probes are repeated until gateway
        and ingest have their subscriptions; after that their sessions keep everything.
        """
        publisher = Publisher(self.township.url, "fault-probe").start()
        seq = first_seq
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                publisher.publish(self.topics.readings(PROBE_NODE), reading(seq))
                seq += 1
                for _ in range(10):
                    if self.count(f"node_id = '{PROBE_NODE}'"):
                        return
                    time.sleep(0.2)
        finally:
            publisher.stop()
        raise AssertionError(
            f"the probe reading did not get through in {timeout_s}s\n{self.tails()}"
        )

    def count(self, where: str = "TRUE") -> int:
        """Readings stored that match ``where``."""
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            # ``where`` is the tests' own SQL text, never outside input.
            row = conn.execute(f"SELECT count(*) FROM readings WHERE {where}").fetchone()  # noqa: S608
        return int(row[0]) if row else 0

    def wait_stored(
        self, expected: int, timeout_s: float, settle_s: float = 2.0, stall_s: float = 20.0
    ) -> int:
        """Poll until the nodes' readings reach ``expected``, the deadline, or a long stall.

        A stall ends the wait early where a loss is the expected outcome (a SIGKILLed broker);
        ``stall_s`` is well above any reconnect backoff in the path.
        """
        deadline = time.monotonic() + timeout_s
        where = f"node_id <> '{PROBE_NODE}'"
        stored, last_growth = -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_growth < stall_s:
            try:
                now_stored = self.count(where)
            except psycopg.Error:
                now_stored = stored  # the database is restarting
            if now_stored >= expected:
                break
            if now_stored > stored:
                stored, last_growth = now_stored, time.monotonic()
            time.sleep(0.3)
        # Anything still in flight that would make a duplicate or an extra shows up by now.
        time.sleep(settle_s)
        return self.count(where)

    def outcome(self, sent: set[Key], duplicates: int) -> Outcome:
        """Compare the database with the set that was sent."""
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT node_id, seq FROM readings WHERE node_id <> %s", (PROBE_NODE,)
            ).fetchall()
            dead_row = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
        keys = [(str(n), int(s)) for n, s in rows]
        stored = set(keys)
        return Outcome(
            sent=len(sent),
            stored=len(keys),
            distinct=len(stored),
            duplicates=duplicates,
            dead=int(dead_row[0]) if dead_row else 0,
            missing=sorted(sent - stored),
            extra=sorted(stored - sent),
        )

    def tails(self, lines: int = 30) -> str:
        """The ends of the components' and brokers' logs, for failure messages."""
        paths = [
            self.root / "cloud.log",
            self.root / "gateway.log",
            self.root / "township" / "mosquitto.log",
            self.root / "cloud-broker" / "mosquitto.log",
        ]
        out = []
        for path in paths:
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path.relative_to(self.root)}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        """Stop everything this stack started."""
        for component in ("gateway", "cloud"):
            if hasattr(self, component):
                getattr(self, component).stop()
        for broker in ("township", "cloud_broker"):
            if hasattr(self, broker):
                getattr(self, broker).kill()
        if hasattr(self, "postgres"):
            self.postgres.stop()
            shutil.rmtree(self.pg_dir, ignore_errors=True)
