"""``envgrid demo``: the whole system on localhost, with nothing installed by hand."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psycopg
import yaml
from pydantic import Field

from envgrid_cli.demo_accounts import Account, ensure_accounts
from envgrid_cli.demo_accounts import describe as describe_accounts
from envgrid_cli.demo_lock import OWNER_VARIABLE, DataDirBusy, DataDirLock, refuse_leftovers
from envgrid_cli.demo_parts import Broker, BrokerPart, Component, Part
from envgrid_cli.demo_supervisor import GaveUp, Supervisor
from envgrid_cli.services.amqtt_broker import AmqttBroker
from envgrid_cli.services.mosquitto import MosquittoBroker, mosquitto_binary
from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_cli.services.postgres import EmbeddedPostgres, stop_server
from envgrid_cli.sql import load
from envgrid_common.settings import EnvgridSettings, default_data_dir
from envgrid_sim.scenario import CameraSpec, Hj212Spec

log = logging.getLogger("envgrid.demo")
DEMO_DATABASE = "envgrid"
GATEWAY_ID = "gateway-luxi"
HJ212_PORT = 5520  # the gateway's HJ 212 listener, where the enterprise's 数采仪 connects
CAMERA_PORT = 8090  # the first virtual camera's MJPEG stream
# The straw fire the demo's farmland camera sees, this long after the simulator starts: time
# enough to open the desk first and watch the case arrive.
DEMO_BURN_AT_S = 90


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


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo``."""
    parser = commands.add_parser(
        "demo",
        help="run everything on localhost: database, brokers, simulated township, gateway, cloud",
        description=(
            "Run the whole system on this machine. Without ENVGRID_DATABASE_URL it starts an "
            "embedded PostgreSQL; without ENVGRID_MQTT_URL it starts two brokers (township and "
            "cloud: Mosquitto if installed, else amqtt from PyPI). Data is kept in the data "
            "directory across restarts. A component that dies is restarted. Stop with Ctrl-C: "
            "simulator, gateway, cloud, brokers, then the database, each within "
            "ENVGRID_STOP_TIMEOUT_S. Exit status 2: another demo (or what is left of one) "
            "is running."
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


def _start_broker(kind: str, data_dir: Path, preferred_port: int) -> MosquittoBroker | AmqttBroker:
    port = _port_or_free(preferred_port)
    if kind == "mosquitto" or (kind == "auto" and mosquitto_binary()):
        return MosquittoBroker(data_dir, port=port).start()
    log.warning("mosquitto is not installed: using amqtt (MQTT 3.1.1, no shared subscriptions)")
    return AmqttBroker(data_dir, port=port).start()


def _ensure_database(admin_url: str) -> str:
    """Create the demo database on a server we started; return its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(load("demo_database_exists"), {"name": DEMO_DATABASE}).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    return admin_url.replace("/postgres?", f"/{DEMO_DATABASE}?", 1)


@dataclass
class Demo:
    """Everything the demo started; stopped in dependency order, each part within the bound."""

    settings: DemoSettings
    interval: float
    broker_kind: str
    stopping: threading.Event = field(default_factory=threading.Event)
    brokers: list[BrokerPart] = field(default_factory=list)
    postgres: EmbeddedPostgres | None = None
    components: list[Component] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    hj212_address: str = ""
    camera_ids: tuple[str, ...] = ()

    @property
    def parts(self) -> list[Part]:
        """What the demo watches and restarts: brokers and components."""
        return [*self.brokers, *self.components]

    def start(self) -> tuple[str, str, str, int]:
        """Start servers and components; return database, township and cloud URLs, API port."""
        data = self.settings.data_dir
        (data / "logs").mkdir(parents=True, exist_ok=True)
        database_url = self.settings.database_url
        if database_url is None:
            self.postgres = EmbeddedPostgres(data / "postgres", self.settings.stop_timeout_s)
            database_url = _ensure_database(self.postgres.start())
        township_url, cloud_url = self._brokers(data)
        stations, cameras = self._prepare_database(database_url)
        self.camera_ids = tuple(c.node.id for c in cameras)
        api_port = _port_or_free(self.settings.api_port)
        self.hj212_address = f"127.0.0.1:{_port_or_free(HJ212_PORT)}"
        camera_port = _port_or_free(CAMERA_PORT) if cameras else 0
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
        self.components = [
            Component("cloud", ["cloud"], cloud_env, logs / "cloud.log"),
            Component(
                "gateway",
                ["gateway"],
                {
                    **common,
                    "ENVGRID_MQTT_URL": township_url,
                    "ENVGRID_UPLINK_MQTT_URL": cloud_url,
                    "ENVGRID_GATEWAY_ID": GATEWAY_ID,
                    "ENVGRID_GATEWAY_BUFFER_PATH": str(data / "gateway" / "buffer.sqlite"),
                    "ENVGRID_HJ212_LISTEN": self.hj212_address,
                    "ENVGRID_HJ212_DEVICES": str(self._device_table(data, stations)),
                },
                logs / "gateway.log",
            ),
            Component(
                "sim",
                [
                    *("sim", "--interval", str(self.interval), "--data-dir", str(data / "sim")),
                    *_camera_options(cameras, camera_port),
                ],
                {**common, "ENVGRID_MQTT_URL": township_url},
                logs / "sim.log",
            ),
            *(
                Component(
                    f"camera {camera.node.id}",
                    ["edge", "camera", "--config", str(_camera_file(data, camera, port))],
                    {**common, "ENVGRID_MQTT_URL": township_url},
                    logs / f"camera-{camera.node.id}.log",
                )
                for port, camera in enumerate(cameras, start=camera_port)
            ),
            *(
                Component(
                    f"hj212 {station.node.id}",
                    _station_command(station, self.hj212_address),
                    common,
                    logs / f"hj212-{station.node.id}.log",
                )
                for station in stations
            ),
        ]
        for component in self.components:
            component.start()
        self._wait_for_api(api_port, timeout_s=60)
        return database_url, township_url, cloud_url, api_port

    def _wait_for_api(self, port: int, timeout_s: float) -> None:
        """Until the API answers, or a Ctrl-C asks to stop meanwhile."""
        deadline = time.monotonic() + timeout_s
        while not self.stopping.is_set():
            try:
                wait_for_port("127.0.0.1", port, timeout_s=0.5)
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    def _brokers(self, data: Path) -> tuple[str, str]:
        env_township = os.environ.get("ENVGRID_MQTT_URL")
        if env_township:
            return env_township, self.settings.uplink_mqtt_url or env_township
        township = _start_broker(self.broker_kind, data / "broker-township", 1883)
        self.brokers.append(_broker_part("township broker", township))
        cloud = _start_broker(self.broker_kind, data / "broker-cloud", 1884)
        self.brokers.append(_broker_part("cloud broker", cloud))
        return township.url, cloud.url

    def _prepare_database(
        self, database_url: str
    ) -> tuple[tuple[Hj212Spec, ...], tuple[CameraSpec, ...]]:
        """Migrate, load the township (with its HJ 212 enterprise and its farmland camera);
        return its HJ 212 stations and its cameras."""
        from envgrid_cloud.db.migrate import migrate
        from envgrid_cloud.registry.store import upsert_registry
        from envgrid_sim.scenarios.luxi import luxi_scenario

        migrate(database_url)
        scenario = luxi_scenario(report_interval_s=self.interval, hj212=True, cameras=True)
        registry = scenario.registry
        with psycopg.connect(database_url) as conn:
            upsert_registry(conn, registry)
        self.accounts = ensure_accounts(database_url, self.settings.data_dir, registry.officers)
        return scenario.hj212, scenario.cameras

    def _device_table(self, data: Path, stations: tuple[Hj212Spec, ...]) -> Path:
        """The gateway's HJ 212 device table: the registry's nodes that carry an MN."""
        path = data / "gateway" / "hj212-devices.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        nodes = [s.node.model_dump(mode="json", exclude_defaults=True) for s in stations]
        path.write_text(yaml.safe_dump({"nodes": nodes}, allow_unicode=True), encoding="utf-8")
        return path

    def stop(self) -> None:
        """Simulator, gateway, cloud (its ingest drains while the database is up), brokers, PG."""
        timeout_s = self.settings.stop_timeout_s
        order: list[Part] = [*reversed(self.components), *reversed(self.brokers)]
        for part in order:
            part.stop(timeout_s)
        if self.postgres is not None:
            self.postgres.stop()


def _camera_options(cameras: tuple[CameraSpec, ...], first_port: int) -> list[str]:
    """``envgrid sim`` options that serve the cameras and set the first one's field on fire."""
    if not cameras:
        return []
    burn = f"{cameras[0].node.id}:burn:{DEMO_BURN_AT_S}"
    return ["--cameras", "--camera-port", str(first_port), "--incident", burn]


def _camera_file(data: Path, camera: CameraSpec, port: int) -> Path:
    """The camera agent's node file: the simulator's virtual camera on ``port`` as its stream."""
    folder = data / "camera"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{camera.node.id}.yaml"
    node = {
        "node_id": camera.node.id,
        "kind": "camera",
        "source": {"type": "stream", "url": f"http://127.0.0.1:{port}/stream.mjpg"},
        "analysis": {"rate_fps": 5, "width": 640},
        "outbox": {"path": str(folder / f"{camera.node.id}.sqlite")},
    }
    path.write_text(yaml.safe_dump(node), encoding="utf-8")
    return path


def _station_command(station: Hj212Spec, address: str) -> list[str]:
    """``envgrid sim hj212`` for one enterprise's 数采仪, connecting to the gateway."""
    assert station.node.hj212_mn is not None
    assert station.node.hj212_password is not None
    return [
        "sim",
        "hj212",
        "--to",
        address,
        "--mn",
        station.node.hj212_mn,
        "--password",
        station.node.hj212_password,
        "--source",
        station.source,
        "--edition",
        station.edition,
        "--crc",
        station.crc,
        "--rtd-interval",
        f"{station.node.report_interval_s:g}",
    ]


def _broker_part(name: str, broker: Broker) -> BrokerPart:
    log_name = "mosquitto.log" if isinstance(broker, MosquittoBroker) else "amqtt.log"
    return BrokerPart(name, broker, log_name)


def _progress(database_url: str) -> str:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute(load("demo_progress")).fetchone()
    assert row is not None
    sites, reporting, readings, dead = row
    return f"{readings} readings stored; {reporting}/{sites} sites reporting; {dead} dead letters"


def run(args: argparse.Namespace) -> int:
    """Start everything, keep it running, stop everything on Ctrl-C or SIGTERM."""
    overrides: dict[str, object] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.api_port:
        overrides["api_port"] = args.api_port
    settings = DemoSettings(**overrides)  # type: ignore[arg-type]
    try:
        lock = _claim(settings)
    except DataDirBusy as busy:
        print(f"envgrid demo: {busy}", file=sys.stderr, flush=True)
        return 2
    demo = Demo(settings, args.interval, args.broker or settings.demo_broker)

    def _stop(_sig: int, _frame: FrameType | None) -> None:
        demo.stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"envgrid demo: data in {settings.data_dir}", flush=True)
    try:
        database_url, township_url, cloud_url, api_port = demo.start()
        print(
            f"  duty desk      http://127.0.0.1:{api_port}  (sign in with an account below)\n"
            f"  web API        http://127.0.0.1:{api_port}/api/v1  (docs: /docs, /healthz)\n"
            f"  township MQTT  {township_url}  (nodes publish here: envgrid/v1/nodes/…)\n"
            f"  cloud MQTT     {cloud_url}\n"
            f"  HJ 212         {demo.hj212_address}  (数采仪 connect here over TCP)\n"
            f"  cameras        {', '.join(demo.camera_ids) or 'none'}  (straw fire in view "
            f"{DEMO_BURN_AT_S} s after start)\n"
            f"  logs           {settings.data_dir / 'logs'}\n"
            f"{describe_accounts(demo.accounts)}\n"
            "Press Ctrl-C to stop; data stays for the next start.",
            flush=True,
        )
        return _supervise(demo, database_url)
    finally:
        print("envgrid demo: stopping…", flush=True)
        demo.stop()
        lock.release()
        print("envgrid demo: stopped", flush=True)


def _claim(settings: DemoSettings) -> DataDirLock:
    """Lock the data directory, clear what an earlier demo left, and mark what we start."""
    lock = DataDirLock(settings.data_dir)
    try:
        # pg_ctl runs the server as a daemon: an earlier demo's server may outlive it.
        stale = stop_server(lock.data_dir / "postgres", settings.stop_timeout_s)
        if stale is not None:
            print(f"envgrid demo: stopped the PostgreSQL an earlier demo left (pid {stale})")
        refuse_leftovers(settings.data_dir, grace_s=settings.stop_timeout_s)
    except DataDirBusy:
        lock.release()
        raise
    # Every process started from here on inherits it: brokers, PostgreSQL, components, workers.
    os.environ[OWNER_VARIABLE] = lock.owner_marker()
    return lock


def _supervise(demo: Demo, database_url: str) -> int:
    supervisor = Supervisor(demo.parts, lambda line: print(f"envgrid demo: {line}", flush=True))
    next_report = time.monotonic() + 5
    while not demo.stopping.wait(0.5):
        try:
            supervisor.check()
        except GaveUp as gave_up:
            print(f"envgrid demo: {gave_up}", flush=True)
            return 1
        if time.monotonic() >= next_report:
            next_report = time.monotonic() + 15
            try:
                print(f"  {time.strftime('%H:%M:%S')} {_progress(database_url)}", flush=True)
            except psycopg.Error as error:
                print(f"  database not answering: {error}", flush=True)
    return 0
