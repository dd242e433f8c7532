"""``envgrid cloud`` and ``envgrid db migrate``."""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import signal
import threading
from types import FrameType

from envgrid_cloud.settings import CloudSettings

log = logging.getLogger("envgrid.cloud")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cloud``."""
    parser = commands.add_parser(
        "cloud",
        help="run the cloud: MQTT ingest workers and the HTTP API",
        description=(
            "Run the cloud: ingest workers that store readings from the cloud broker "
            "(ENVGRID_MQTT_URL) in PostgreSQL (ENVGRID_DATABASE_URL), and the HTTP API. "
            "Migrates the database first."
        ),
    )
    parser.add_argument("--host", help="API address (ENVGRID_API_HOST)")
    parser.add_argument("--port", type=int, help="API port (ENVGRID_API_PORT)")
    parser.add_argument("--workers", type=int, help="ingest processes (ENVGRID_INGEST_WORKERS)")
    parts = parser.add_mutually_exclusive_group()
    parts.add_argument("--api-only", action="store_true", help="run the API without ingest")
    parts.add_argument("--ingest-only", action="store_true", help="run ingest without the API")
    parser.set_defaults(handler=run_cloud)


def register_db(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``db migrate``."""
    parser = commands.add_parser(
        "db", help="database maintenance", description="Database maintenance."
    )
    actions = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    migrate = actions.add_parser(
        "migrate",
        help="create or update the schema",
        description="Apply the numbered SQL migrations to ENVGRID_DATABASE_URL (safe to repeat).",
    )
    migrate.set_defaults(handler=run_migrate)


def run_migrate(_: argparse.Namespace) -> int:
    """Apply pending migrations and say what was done."""
    from envgrid_cloud.db.migrate import migrate

    applied = migrate(CloudSettings().database_url)
    if applied:
        for m in applied:
            print(f"applied {m.version:04d}_{m.name}")
    else:
        print("schema is up to date")
    return 0


def _settings(args: argparse.Namespace) -> CloudSettings:
    overrides = {
        key: value
        for key, value in (
            ("api_host", args.host),
            ("api_port", args.port),
            ("ingest_workers", args.workers),
        )
        if value is not None
    }
    return CloudSettings(**overrides)


def _ingest_process(settings: CloudSettings, index: int) -> None:
    from envgrid_cloud.ingest.worker import run_worker
    from envgrid_common.logs import setup_logging

    setup_logging(settings.log_level)
    stop = threading.Event()

    def _stop(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_worker(settings, index, stop)


def run_cloud(args: argparse.Namespace) -> int:
    """Migrate, start the ingest processes, serve the API until interrupted."""
    import psycopg

    from envgrid_cloud.api.database import describe
    from envgrid_cloud.db.migrate import migrate

    settings = _settings(args)
    try:
        migrate(settings.database_url)
    except psycopg.OperationalError as error:
        log.error("cannot reach the database %s: %s", describe(settings.database_url), error)
        return 2
    workers: list[multiprocessing.process.BaseProcess] = []
    if not args.api_only:
        ctx = multiprocessing.get_context("spawn")
        for index in range(settings.ingest_workers):
            process = ctx.Process(
                target=_ingest_process, args=(settings, index), name=f"ingest-{index}", daemon=False
            )
            process.start()
            workers.append(process)
        log.info("%d ingest worker(s) on %s", len(workers), settings.mqtt_url)
    try:
        if args.ingest_only:
            stopped = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stopped.set())
            while not stopped.wait(1.0):
                if all(not w.is_alive() for w in workers):
                    log.error("every ingest worker has exited")
                    return 1
        else:
            import uvicorn

            from envgrid_cloud.app import create_app

            print(f"envgrid API on http://{settings.api_host}:{settings.api_port}", flush=True)
            uvicorn.run(
                create_app(settings),
                host=settings.api_host,
                port=settings.api_port,
                log_level=settings.log_level.lower(),
            )
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(timeout=15)
    return 0
