"""``envgrid cloud``, ``db migrate``, ``sites import`` and ``cases export-false-alarms``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING

from envgrid_cloud.settings import CloudSettings

if TYPE_CHECKING:
    from envgrid_cloud.api_server import ApiServer
    from envgrid_cloud.ingest_processes import IngestWorkers

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


def run_cloud(args: argparse.Namespace) -> int:
    """Migrate, start the ingest processes and the API, supervise them until interrupted."""
    import psycopg

    from envgrid_cloud.api.database import describe
    from envgrid_cloud.api_server import ApiServer
    from envgrid_cloud.db.migrate import migrate
    from envgrid_cloud.feed_sweeper import FeedSweeper
    from envgrid_cloud.ingest_processes import IngestWorkers

    settings = _settings(args)
    try:
        migrate(settings.database_url)
    except psycopg.OperationalError as error:
        log.error("cannot reach the database %s: %s", describe(settings.database_url), error)
        return 2
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    workers = IngestWorkers(settings, 0 if args.api_only else settings.ingest_workers).start()
    if len(workers):
        log.info("%d ingest worker(s) on %s", len(workers), settings.mqtt_url)
    api: ApiServer | None = None
    sweeper: FeedSweeper | None = None
    status = 0
    try:
        if settings.clock == "feed" and len(workers):
            # Decisions on the replayed feed's time: the sweeps follow the ingest's barrier.
            sweeper = FeedSweeper(settings).start()
            log.info("on the feed's clock: sweeps follow %s", settings.topics.clock())
        if not args.ingest_only:
            api = ApiServer(settings).start()
            print(f"envgrid API on http://{settings.api_host}:{settings.api_port}", flush=True)
        while not stopping.wait(SUPERVISE_EVERY_S):
            workers.supervise()
            if api is not None and not api.running:
                log.error("the API has stopped; stopping the cloud")
                status = 1
                break
    finally:
        if sweeper is not None:
            sweeper.stop()
        _stop(settings.stop_timeout_s, workers, api)
    return status


# How often the main thread looks at the ingest workers (and restarts those due).
SUPERVISE_EVERY_S = 0.5


def _stop(timeout_s: float, workers: IngestWorkers, api: ApiServer | None) -> None:
    """Stop the API and the workers together; the process ends within ``timeout_s``."""
    _exit_after(timeout_s)
    deadline = time.monotonic() + STOP_SHARE * timeout_s
    if api is not None:
        api.request_stop()
    workers.stop(STOP_SHARE * timeout_s)
    if api is not None and not api.wait(deadline - time.monotonic()):
        log.error("the API did not stop in time")


# Share of the stop bound for the API and the workers; the rest is for the interpreter to exit.
STOP_SHARE = 0.9


def _exit_after(seconds: float) -> None:
    """End the process in ``seconds``, whatever it is doing then."""
    # A thread stuck in a call to a database that has gone away must not hold the process past
    # its stop bound (the interpreter waits for every thread that is not a daemon).

    def _exit() -> None:
        log.error("still running %g s after the stop began: exiting now", seconds)
        logging.shutdown()
        sys.stdout.flush()
        os._exit(1)

    timer = threading.Timer(seconds, _exit)
    timer.daemon = True
    timer.start()


def register_sites(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sites import``."""
    parser = commands.add_parser(
        "sites",
        help="the key pollution-source list (重点污染源监管清单)",
        description="The registry's sites: import the census list of key pollution sources.",
    )
    actions = parser.add_subparsers(dest="sites_command", required=True, metavar="ACTION")
    importer = actions.add_parser(
        "import",
        help="import a census list (CSV or XLSX) into ENVGRID_DATABASE_URL",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=SITES_IMPORT_HELP,
    )
    importer.add_argument("file", metavar="FILE", type=Path, help="the list, .csv or .xlsx")
    importer.add_argument(
        "--dry-run", action="store_true", help="check and report, but write nothing"
    )
    importer.add_argument(
        "--format", choices=("csv", "xlsx"), help="file format (default: from the file)"
    )
    importer.set_defaults(handler=run_sites_import)


SITES_IMPORT_HELP = """\
Import the key pollution-source list (重点污染源监管清单) from the census: a CSV file
(UTF-8 with or without BOM, or GB18030) or an XLSX workbook, with Chinese headers.

Columns (title rows above the header are skipped; other columns are ignored):
  名称/单位名称/企业名称/污染源名称 (required)   类别/污染源类别/类型/行业类别 (required)
  乡镇/所属乡镇 (required, an existing township)  村/行政村/所属村   村民小组/组
  经度 纬度 (decimal degrees or 116°7′12″)   生产工艺   治理要求/污染治理要求/治理措施
  编号/统一社会信用代码/污染源编码 (census id)  水质目标/目标水质 (Ⅰ–Ⅴ类)   水体类型 (河流/湖库)
  下游 (census ids or names of the sites downstream, separated by 、)
Categories: 畜禽养殖场, 重要水域 (河流, 湖库), 垃圾收运点, 工业企业, 重要路段, 农田.

Each row stands alone: bad rows are reported with their line number (as shown in Excel) and
left out, good rows are imported. Sites are matched by census id, else by township and name,
so importing the same list again changes nothing. A missing village is created.

Exit status: 0 all rows imported, 1 some rows rejected (the others imported),
2 the file cannot be read or the database cannot be reached.
"""
# Long lists report progress on stderr every this many rows.
PROGRESS_EVERY = 500


def run_sites_import(args: argparse.Namespace) -> int:
    """Read the list, upsert its good rows, print what was done and what was not."""
    import psycopg

    from envgrid_cloud.api.database import describe
    from envgrid_cloud.registry.census import (
        CensusUnreadable,
        import_census,
        read_census,
        report_lines,
    )

    path: Path = args.file
    try:
        census = read_census(path, args.format)
    except CensusUnreadable as exc:
        print(f"envgrid sites import: {path}: {exc}", file=sys.stderr)
        return 2

    print(f"{path.name}: header on line {census.header_line}", flush=True)

    def progress(done: int, total: int) -> None:
        if total >= PROGRESS_EVERY and (done % PROGRESS_EVERY == 0 or done == total):
            print(f"  {done}/{total} rows", file=sys.stderr, flush=True)

    url = CloudSettings().database_url
    try:
        with psycopg.connect(url) as conn:
            report = import_census(conn, census, dry_run=args.dry_run, progress=progress)
    except psycopg.OperationalError as exc:
        print(
            f"envgrid sites import: cannot reach the database {describe(url)}: {exc}",
            file=sys.stderr,
        )
        return 2
    except psycopg.errors.UndefinedTable:
        print(
            f"envgrid sites import: the database {describe(url)} has no envgrid schema;"
            " run `envgrid db migrate` first",
            file=sys.stderr,
        )
        return 2
    for line in report_lines(report):
        print(line)
    return 1 if report.rejected else 0


def register_cases(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cases export-false-alarms``."""
    parser = commands.add_parser(
        "cases", help="cases (一案一档): exports", description="Cases: exports for other tools."
    )
    actions = parser.add_subparsers(dest="cases_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export-false-alarms",
        help="export the camera snapshots of cases dismissed as false alarms (误报)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=FALSE_ALARMS_HELP,
    )
    export.add_argument("dir", metavar="DIR", type=Path, help="the folder to write (made if new)")
    export.add_argument(
        "--since",
        type=_since,
        metavar="DATE",
        help="only cases dismissed on or after this day (YYYY-MM-DD, Beijing time) or instant "
        "(ISO 8601 with its offset)",
    )
    export.add_argument("--township", metavar="ID", help="only this township's cases")
    export.set_defaults(handler=run_export_false_alarms)


FALSE_ALARMS_HELP = """\
Export the snapshots of camera cases dismissed as false alarms (误报) from
ENVGRID_DATABASE_URL, to re-evaluate the detector on them:

  envgrid cases export-false-alarms ./false-alarms --since 2026-05-01
  envgrid edge camera eval ./false-alarms

DIR/labels.csv lists them (file,label: every label is "negative"; then case_id, township_id,
node_id, event_id, kind, dismissed_at, reason, received_at), the JPEGs are under DIR/negative/.
These snapshots are kept past ENVGRID_SNAPSHOT_RETENTION_DAYS for this purpose. Exporting
again into the same DIR rewrites it.

Exit status: 0 exported (possibly nothing), 2 the database cannot be used.
"""
# Progress on stderr every this many frames.
EXPORT_PROGRESS_EVERY = 100


def _since(text: str) -> datetime:
    """A day (from its start in Beijing time) or an instant with its offset."""
    from envgrid_common.clock import SHANGHAI

    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), dt_time(), SHANGHAI)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date (YYYY-MM-DD) or an instant: {text!r}"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI)


def run_export_false_alarms(args: argparse.Namespace) -> int:
    """Write DIR/labels.csv and the frames; progress on stderr, a summary on stdout."""
    import psycopg

    from envgrid_cloud.api.database import describe
    from envgrid_cloud.cases.false_alarms import export_to_folder

    folder: Path = args.dir

    def progress(done: int, total: int) -> None:
        if done % EXPORT_PROGRESS_EVERY == 0 or done == total:
            print(f"  {done}/{total} snapshots", file=sys.stderr, flush=True)

    url = CloudSettings().database_url
    try:
        with psycopg.connect(url) as conn:
            done = export_to_folder(conn, folder, args.since, args.township, progress)
    except psycopg.OperationalError as exc:
        print(
            f"envgrid cases export-false-alarms: cannot reach the database {describe(url)}: {exc}",
            file=sys.stderr,
        )
        return 2
    except psycopg.errors.UndefinedTable:
        print(
            f"envgrid cases export-false-alarms: the database {describe(url)} has no envgrid "
            "schema (or an old one); run `envgrid db migrate` first",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        print(f"envgrid cases export-false-alarms: cannot write {folder}: {exc}", file=sys.stderr)
        return 2
    print(
        f"exported {done.frames} snapshot(s) of {done.cases} dismissed case(s) "
        f"({done.bytes / 1e6:.1f} MB) to {folder}; labels in {folder / 'labels.csv'}"
    )
    return 0
