"""``envgrid demo``: the whole system on localhost, with nothing installed by hand."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol

import psycopg
from pydantic import Field

from envgrid_cli.services.amqtt_broker import AmqttBroker
from envgrid_cli.services.mosquitto import MosquittoBroker, mosquitto_binary
from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_cli.services.postgres import EmbeddedPostgres
from envgrid_common.settings import EnvgridSettings, default_data_dir

log = logging.getLogger("envgrid.demo")
DEMO_DATABASE = "envgrid"
GATEWAY_ID = "gateway-luxi"


class DemoSettings(EnvgridSettings):
    """What the demo reads from the environment; unset servers are started by the demo."""

    database_url: str | None = Field(default=None, description="use this PostgreSQL")
    uplink_mqtt_url: str | None = Field(default=None, description="use this cloud broker")
    data_dir: Path = Field(
        default_factory=lambda: default_data_dir() / "demo",
        description="Where the demo keeps its database, brokers' data, outboxes and logs"
        " (default ~/.local/share/envgrid/demo)",
    )
    api_port: int = 8080
    demo_broker: str = Field(default="auto", description="auto, mosquitto or amqtt")


class Broker(Protocol):
    """A broker the demo started."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo``."""
    parser = commands.add_parser(
        "demo",
        help="run everything on localhost: database, brokers, simulated township, gateway, cloud",
        description=(
            "Run the whole system on this machine. Without ENVGRID_DATABASE_URL it starts an "
            "embedded PostgreSQL; without ENVGRID_MQTT_URL it starts two brokers (township and "
            "cloud: Mosquitto if installed, else amqtt from PyPI). Data is kept in the data "
            "directory across restarts. Stop with Ctrl-C."
        ),
    )
    parser.add_argument("--data-dir", type=Path, help="where to keep state (ENVGRID_DATA_DIR)")
    parser.add_argument("--api-port", type=int, help="HTTP API port (default 8080, or a free one)")
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between a node's readings (5)"
    )
    parser.add_argument(
        "--broker", choices=("auto", "mosquitto", "amqtt"), help="which broker to start"
    )
    parser.set_defaults(handler=run)


def _port_or_free(preferred: int) -> int:
    """``preferred`` if nobody listens there, else any free port."""
    try:
        wait_for_port("127.0.0.1", preferred, timeout_s=0)
    except TimeoutError:
        return preferred
    return free_port()


def _start_broker(kind: str, data_dir: Path, preferred_port: int) -> Broker:
    port = _port_or_free(preferred_port)
    if kind == "mosquitto" or (kind == "auto" and mosquitto_binary()):
        return MosquittoBroker(data_dir, port=port).start()
    log.warning("mosquitto is not installed: using amqtt (MQTT 3.1.1, no shared subscriptions)")
    return AmqttBroker(data_dir, port=port).start()


def _ensure_database(admin_url: str) -> str:
    """Create the demo database on a server we started; return its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DEMO_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    return admin_url.replace("/postgres?", f"/{DEMO_DATABASE}?", 1)


@dataclass
class Child:
    """A component running as its own process, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the component."""
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "envgrid_cli", *self.argv],
            env={**os.environ, **self.env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def exited(self) -> int | None:
        """Exit status if the process has ended."""
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 15) -> str:
        """The end of its log."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@dataclass
class Demo:
    """Everything the demo started, stopped in reverse order."""

    settings: DemoSettings
    interval: float
    broker_kind: str
    stopping: threading.Event = field(default_factory=threading.Event)
    brokers: list[Broker] = field(default_factory=list)
    postgres: EmbeddedPostgres | None = None
    children: list[Child] = field(default_factory=list)

    def start(self) -> tuple[str, str, str, int]:
        """Start servers and components; return database, township and cloud URLs, API port."""
        data = self.settings.data_dir
        (data / "logs").mkdir(parents=True, exist_ok=True)
        database_url = self.settings.database_url
        if database_url is None:
            self.postgres = EmbeddedPostgres(data / "postgres")
            database_url = _ensure_database(self.postgres.start())
        township_url, cloud_url = self._brokers(data)
        self._prepare_database(database_url)
        api_port = _port_or_free(self.settings.api_port)
        common = {"ENVGRID_TOPIC_ROOT": self.settings.topic_root}
        logs = data / "logs"
        cloud_env = {
            **common,
            "ENVGRID_DATABASE_URL": database_url,
            "ENVGRID_MQTT_URL": cloud_url,
            "ENVGRID_API_PORT": str(api_port),
        }
        if "protocol=3.1.1" in cloud_url:
            cloud_env["ENVGRID_INGEST_SHARE_GROUP"] = ""
        self.children = [
            Child("cloud", ["cloud"], cloud_env, logs / "cloud.log"),
            Child(
                "gateway",
                ["gateway"],
                {
                    **common,
                    "ENVGRID_MQTT_URL": township_url,
                    "ENVGRID_UPLINK_MQTT_URL": cloud_url,
                    "ENVGRID_GATEWAY_ID": GATEWAY_ID,
                    "ENVGRID_GATEWAY_BUFFER_PATH": str(data / "gateway" / "buffer.sqlite"),
                },
                logs / "gateway.log",
            ),
            Child(
                "sim",
                ["sim", "--interval", str(self.interval), "--data-dir", str(data / "sim")],
                {**common, "ENVGRID_MQTT_URL": township_url},
                logs / "sim.log",
            ),
        ]
        for child in self.children:
            child.start()
        wait_for_port("127.0.0.1", api_port, timeout_s=60)
        return database_url, township_url, cloud_url, api_port

    def _brokers(self, data: Path) -> tuple[str, str]:
        env_township = os.environ.get("ENVGRID_MQTT_URL")
        if env_township:
            return env_township, self.settings.uplink_mqtt_url or env_township
        township = _start_broker(self.broker_kind, data / "broker-township", 1883)
        cloud = _start_broker(self.broker_kind, data / "broker-cloud", 1884)
        self.brokers = [township, cloud]
        return township.url, cloud.url

    def _prepare_database(self, database_url: str) -> None:
        from envgrid_cloud.db.migrate import migrate
        from envgrid_cloud.registry.store import upsert_registry
        from envgrid_sim.scenarios.luxi import luxi_scenario

        migrate(database_url)
        with psycopg.connect(database_url) as conn:
            upsert_registry(conn, luxi_scenario(report_interval_s=self.interval).registry)

    def stop(self) -> None:
        """Stop components, then brokers, then the database."""
        for child in reversed(self.children):
            child.stop()
        for broker in reversed(self.brokers):
            broker.stop()
        if self.postgres is not None:
            self.postgres.stop()


def _progress(database_url: str) -> str:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM sites),"
            " (SELECT count(DISTINCT n.site_id) FROM latest_values l"
            "  JOIN nodes n ON n.id = l.node_id),"
            " (SELECT count(*) FROM readings),"
            " (SELECT count(*) FROM dead_letters)"
        ).fetchone()
    assert row is not None
    sites, reporting, readings, dead = row
    return f"{readings} readings stored; {reporting}/{sites} sites reporting; {dead} dead letters"


def run(args: argparse.Namespace) -> int:
    """Start everything, report progress, stop everything on Ctrl-C or SIGTERM."""
    overrides: dict[str, object] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.api_port:
        overrides["api_port"] = args.api_port
    settings = DemoSettings(**overrides)  # type: ignore[arg-type]
    demo = Demo(settings, args.interval, args.broker or settings.demo_broker)

    def _stop(_sig: int, _frame: FrameType | None) -> None:
        demo.stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"envgrid demo: data in {settings.data_dir}", flush=True)
    try:
        database_url, township_url, cloud_url, api_port = demo.start()
        print(
            f"  web API        http://127.0.0.1:{api_port}  (docs: /docs, health: /healthz)\n"
            f"  township MQTT  {township_url}  (nodes publish here: envgrid/v1/nodes/…)\n"
            f"  cloud MQTT     {cloud_url}\n"
            f"  logs           {settings.data_dir / 'logs'}\n"
            "Press Ctrl-C to stop; data stays for the next start.",
            flush=True,
        )
        return _supervise(demo, database_url)
    finally:
        print("envgrid demo: stopping…", flush=True)
        demo.stop()
        print("envgrid demo: stopped", flush=True)


def _supervise(demo: Demo, database_url: str) -> int:
    next_report = time.monotonic() + 5
    while not demo.stopping.wait(0.5):
        for child in demo.children:
            status = child.exited()
            if status is not None:
                print(f"envgrid demo: {child.name} exited ({status}); its log ends:", flush=True)
                print(child.tail(), flush=True)
                return 1
        if time.monotonic() >= next_report:
            next_report = time.monotonic() + 15
            try:
                print(f"  {time.strftime('%H:%M:%S')} {_progress(database_url)}", flush=True)
            except psycopg.Error as error:
                print(f"  database not answering: {error}", flush=True)
    return 0
