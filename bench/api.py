"""The API's request cost with and without the token check, and how long a login takes.

A throw-away database is seeded like a county's: one township of four villages, 100 sites with
a node each, 10,000 cases (300 still open, the rest closed over the past year) and a week of
5-minute readings from the 60 sites with water-quality analysers (COPY); an administrator and
the grid officer of one village, each with a password and an API token.

Two apps are served by uvicorn on that database, one worker each, in processes of their own:
the real one, where every ``/api/v1`` request is authenticated (the token looked up by its
SHA-256 with its user and their area), and the baseline, whose ``authenticate`` dependency is
replaced by a fixed administrator: the same handlers and queries, no token lookup. Both get the
same ``Authorization`` header. Their login throttles are raised so that the wrong passwords
below are answered, not refused (the throttle's query still runs on every login).

1. Logins: ``--logins`` sequential ``POST /api/v1/auth/login`` each with the right password,
   with a wrong one and with an unknown login name, interleaved: p50 / p99 as the client sees
   them, next to one Argon2id verify in this process at the same parameters (and, for scale,
   the query that looks a token up, alone).
2. The check's cost per request: ``GET /api/v1/cases?limit=50``, a day of one site's raw COD
   readings (288 points) and a week of them per hour (``bucket=1h``, 168 intervals), one at a
   time for ``--paired-s``, alternating the two apps request by request, so that whatever
   else the machine does falls on both alike: p50 / p99 of each and the median over the pairs
   of the difference.
3. Throughput: the same requests over ``--connections`` keep-alive connections for
   ``--duration-s`` after ``--warmup-s``, from ``wrk`` if it is installed, else from an httpx
   client pool (latency then includes the client's own time): requests/s and p50 / p99,
   without the check, with the admin's token and with the grid officer's (whose area
   applies). The variants alternate ``--rounds`` times (the machine's speed drifts); the table
   shows medians and the ratio of each round's pair.

Both load generators run in processes of their own. Every request has a timeout
(``--timeout-s``); a variant with failed or timed-out requests is reported as not taken, with
the first error, and every wait for a server or the load generator is bounded. Run:
``.venv/bin/python -m bench.api`` (about 2½ minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import queue
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue as MpQueue
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict

from bench.support import CATEGORIES, bench_database, exit_on_sigterm, percentile, synthetic_county
from envgrid_cli.services.ports import free_port
from envgrid_cloud.api.sql import load as load_query
from envgrid_cloud.auth import accounts, passwords
from envgrid_cloud.auth.tokens import digest
from envgrid_common.lifecycle import die_with_parent, start_child

COUNTY, TOWN = "bench-county", "bench-town"
VILLAGES = tuple(f"bench-village-{i}" for i in range(1, 5))
ANALYSED = frozenset(CATEGORIES[:3])  # sites whose node measures COD
OPEN_RULES = ("cod-limit", "nh3n-limit", "no-data")
CLOSED_RULES = (*OPEN_RULES, "tp-limit", "cod-rate", "nh3n-stuck", "offline")
OPEN_STATES = ("raised", "dispatched", "acknowledged", "inspecting", "rectifying", "reported")
SEVERITIES = ("low", "medium", "high", "critical")
READING_EVERY = timedelta(minutes=5)

ADMIN, OFFICER, LOGIN_USER = "bench-admin", "bench-officer", "bench-login"
PASSWORD = "bench-correct-horse"
WRONG_PASSWORD = "bench-wrong-horse"
# Failed logins are throttled (5 per account, 20 per address in 15 min by default).
RAISED_LOGIN_LIMIT, RAISED_ADDRESS_LIMIT = 1000, 100_000


# Seeding ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Seeded:
    """What the benchmark asks for: a site with readings in the officer's village, tokens."""

    site_id: str
    other_site_id: str  # one outside the officer's village
    tokens: dict[str, str]  # login → API token
    cases: int
    officer_cases: int  # cases at sites in the officer's village
    readings: int


def seed(db: str, n_sites: int, n_cases: int, days: int, now: datetime) -> Seeded:
    """The grid, sites, nodes, officers, cases, readings and the benchmark's accounts."""
    rng = random.Random(7)
    cells, sites = synthetic_county(COUNTY, TOWN, VILLAGES, n_sites)
    analysed = [s[0] for s in sites if s[2] in ANALYSED]
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO grid_cells (id, level, name, parent_id) VALUES (%s, %s, %s, %s)", cells
        )
        cur.executemany(
            "INSERT INTO sites (id, name, category, cell_id) VALUES (%s, %s, %s, %s)", sites
        )
        cur.executemany(
            "INSERT INTO nodes (id, site_id, report_interval_s) VALUES (%s, %s, 300)",
            [(f"node-{s[0]}", s[0]) for s in sites],
        )
        cur.execute(
            "UPDATE sites SET target_class = 'III', water_type = 'river'"
            " WHERE category = 'water_body'"
        )
        # The grid officers of the other villages and a reviewer (no password: cases name them).
        cur.executemany(
            "INSERT INTO users (id, login, name, role, cell_id) VALUES (%s, %s, %s, %s, %s)",
            [(f"officer-{v}", f"officer-{v}", "网格员", "grid_officer", v) for v in VILLAGES[1:]]
            + [("bench-reviewer", "bench-reviewer", "审核员", "reviewer", TOWN)],
        )
    with accounts.connect(db) as people:
        for user in (
            accounts.NewUser(ADMIN, ADMIN, "管理员", "admin", None),
            accounts.NewUser(OFFICER, OFFICER, "一村网格员", "grid_officer", VILLAGES[0]),
            accounts.NewUser(LOGIN_USER, LOGIN_USER, "登录测试", "grid_officer", VILLAGES[0]),
        ):
            accounts.add_user(people, user, PASSWORD)
        tokens = {
            who: accounts.issue_token(people, who, "bench", None)[0] for who in (ADMIN, OFFICER)
        }
    officer_of = {VILLAGES[0]: OFFICER} | {v: f"officer-{v}" for v in VILLAGES[1:]}
    village_of = {s[0]: s[3] for s in sites}
    rows = _cases(rng, sites, n_cases, now, officer_of)
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY cases (site_id, rule_id, township_id, node_id, metric, severity, state, title,"
            " detail, first_seen_at, last_seen_at, raised_at, occurrences, first_value,"
            " last_value, peak_value, cleared_at, assignee_id, assigned_cell_id, ack_due_at,"
            " close_due_at, closed_at, updated_at) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        with cur.copy("COPY readings (node_id, ts, seq, vals, flags) FROM STDIN") as copy:
            n_readings = _readings(copy.write, analysed, days, now, rng)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("ANALYZE")
    site = next(s for s in analysed if village_of[s] == VILLAGES[0])
    other = next(s for s in analysed if village_of[s] != VILLAGES[0])
    officer_cases = sum(1 for r in rows if village_of[str(r[0])] == VILLAGES[0])
    return Seeded(site, other, tokens, len(rows), officer_cases, n_readings)


def _cases(
    rng: random.Random,
    sites: list[tuple[str, str, str, str]],
    n: int,
    now: datetime,
    officer_of: dict[str, str],
) -> list[tuple[object, ...]]:
    """One open case per site and open rule, the rest closed or dismissed over a year."""
    opened = [(s, r) for s in sites for r in OPEN_RULES][: min(n, len(sites) * len(OPEN_RULES))]
    rows: list[tuple[object, ...]] = []
    for i in range(n):
        is_open = i < len(opened)
        site, rule = opened[i] if is_open else (rng.choice(sites), rng.choice(CLOSED_RULES))
        raised = now - timedelta(days=rng.uniform(0.01, 30 if is_open else 365))
        seen = raised + timedelta(minutes=rng.uniform(0, 240))
        value = round(rng.uniform(21, 80), 2)
        severity = rng.choice(SEVERITIES)
        if is_open:  # deadlines ahead: the escalation sweep finds nothing to do
            state, closed = rng.choice(OPEN_STATES), None
            ack_due, close_due = now + timedelta(days=30), now + timedelta(days=60)
        else:
            state = "closed" if rng.random() < 0.9 else "dismissed"
            closed = raised + timedelta(days=rng.uniform(0.1, 10))
            ack_due, close_due = raised + timedelta(hours=2), raised + timedelta(days=3)
        detail = orjson.dumps({"limit": 20, "unit": "mg/L", "basis": "GB 3838-2002 表 1 III 类"})
        rows.append(
            (
                site[0],
                rule,
                TOWN,
                f"node-{site[0]}",
                rule.split("-")[0] if rule.split("-")[0] in ("cod", "nh3n", "tp") else None,
                severity,
                state,
                f"{site[1]} {rule}",
                detail.decode(),
                raised,
                seen,
                raised,
                rng.randint(1, 40),
                value,
                value,
                value + rng.uniform(0, 10),
                closed,
                officer_of[site[3]],
                site[3],
                ack_due,
                close_due,
                closed,
                closed or seen,
            )
        )
    return rows


def _readings(
    write: Callable[[bytes], None], sites: list[str], days: int, now: datetime, rng: random.Random
) -> int:
    """Every 5 minutes for ``days`` up to ``now``, per analysed site: COD, NH3-N, TP, pH; a few
    flagged."""
    start = now - timedelta(days=days)
    steps = int(timedelta(days=days) / READING_EVERY)
    written = 0
    for site in sites:
        lines = []
        node = f"node-{site}".encode()
        for seq in range(steps):
            ts = (start + seq * READING_EVERY).isoformat().encode()
            vals = orjson.dumps(
                {
                    "cod": round(rng.uniform(8, 24), 2),
                    "nh3n": round(rng.uniform(0.2, 1.2), 3),
                    "tp": round(rng.uniform(0.05, 0.3), 3),
                    "ph": round(rng.uniform(6.8, 8.2), 2),
                }
            )
            flags = b'{"cod": "C"}' if seq % 200 == 0 else b"\\N"
            lines.append(b"%s\t%s\t%d\t%s\t%s\n" % (node, ts, seq, vals, flags))
        write(b"".join(lines))
        written += steps
    return written


# The two apps, each in a process of its own ---------------------------------------------------
def _serve(parent_pid: int, database_url: str, port: int, check: bool) -> None:
    """uvicorn serving the app; without ``check``, ``authenticate`` answers a fixed admin."""
    die_with_parent(parent_pid)
    import uvicorn

    from envgrid_cloud.api.security import authenticate
    from envgrid_cloud.app import create_app
    from envgrid_cloud.auth.principal import Principal
    from envgrid_cloud.cases.model import Role
    from envgrid_cloud.settings import CloudSettings

    settings = CloudSettings(
        database_url=database_url,
        api_port=port,
        rules_enabled=False,  # no ingest here: only the escalation sweep runs
        case_topics_enabled=False,  # no broker
        log_level="WARNING",
        auth_login_max_failures=RAISED_LOGIN_LIMIT,
        auth_address_max_failures=RAISED_ADDRESS_LIMIT,
    )
    app = create_app(settings)
    if not check:
        admin = Principal(
            user_id=ADMIN,
            login=ADMIN,
            name="管理员",
            role=Role.ADMIN,
            cell_id=None,
            locale="zh-CN",
            via="token",
            cells=None,
        )
        app.dependency_overrides[authenticate] = lambda: admin
    # As envgrid cloud serves it (envgrid_cloud.api_server), on the main thread here.
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).run()


# What serving costs: CPU of the app's process and of the PostgreSQL backends it talks to -------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of process ``pid`` (all its threads) from /proc; None if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def database_ports(pid: int, server_port: int) -> set[int]:
    """Local ports of the connections process ``pid`` holds to ``server_port`` (from /proc)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            to_server = len(cols) > 9 and int(cols[2].rsplit(":", 1)[1], 16) == server_port
            if to_server and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


class ServerCpu:
    """CPU snapshots of an app's process and its PostgreSQL backends (Linux /proc)."""

    def __init__(self, database_url: str) -> None:
        self._port = int(conninfo_to_dict(database_url).get("port") or 5432)
        self._monitor = psycopg.connect(database_url, autocommit=True)

    def snapshot(self, pid: int | None) -> dict[int, float] | None:
        """CPU seconds by pid: the app's and those of its backends; None if unreadable."""
        if pid is None or (own := cpu_seconds(pid)) is None:
            return None
        ports = list(database_ports(pid, self._port))
        rows = self._monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s)", [ports]
        ).fetchall()
        found = {pid: own}
        for (backend,) in rows:
            if (used := cpu_seconds(backend)) is not None:
                found[backend] = used
        return found

    @staticmethod
    def used(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
        """CPU seconds between two snapshots (a backend started meanwhile counts whole)."""
        if before is None or after is None:
            return None
        return sum(t - before.get(p, 0.0) for p, t in after.items())

    def close(self) -> None:
        """Close the monitoring connection."""
        self._monitor.close()


class Api:
    """One app served by uvicorn (one worker) in a spawned process that dies with us."""

    def __init__(self, database_url: str, *, check: bool) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.name = "token check" if check else "no token check"
        ctx = multiprocessing.get_context("spawn")
        self._process: BaseProcess = ctx.Process(
            target=_serve, args=(os.getpid(), database_url, self.port, check), daemon=True
        )

    def start(self, timeout_s: float = 60) -> Api:
        """Start it and wait until /healthz answers."""
        self._process.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._process.is_alive():
                raise SystemExit(f"the app ({self.name}) exited: {self._process.exitcode}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"the app ({self.name}) did not answer /healthz in {timeout_s:g} s")

    @property
    def pid(self) -> int | None:
        """The serving process."""
        return self._process.pid

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down, the pools close), then SIGKILL after 10 s."""
        if self._process.pid is None:
            return
        self._process.terminate()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)


# Load generators ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """``connections`` clients asking for ``path`` as fast as answered, for ``duration_s``."""

    base: str
    path: str
    headers: dict[str, str]
    connections: int
    warmup_s: float
    duration_s: float
    timeout_s: float


@dataclass(frozen=True)
class Result:
    """What a job saw: answered (2xx) per second, latency, and what failed."""

    rate: float
    ok: int
    p50_ms: float
    p99_ms: float
    failed: int = 0
    first_error: str = ""
    client_cpu: float = 0.0  # the client's CPU time over the window (1.0: a core all along)
    sent: int = 0  # requests answered or failed, warm-up included (server CPU is per request)
    server_cpu_us: float | None = None  # the app's and its PostgreSQL backends' CPU per request

    @property
    def taken(self) -> bool:
        """At least 99 % of the requests answered with 2xx within the timeout."""
        return self.ok > 0 and self.failed <= 0.01 * (self.ok + self.failed)


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    first_error: str = ""

    def fail(self, kind: str, text: str) -> None:
        self.failures[kind] += 1
        self.first_error = self.first_error or f"{kind}: {text}"[:300]


async def _hammer(client: httpx.AsyncClient, job: Job, seconds: float, tally: _Tally) -> None:
    end = time.perf_counter() + seconds

    async def one() -> None:
        while time.perf_counter() < end:
            sent = time.perf_counter()
            try:
                response = await client.get(job.path)
            except httpx.HTTPError as error:
                tally.fail(type(error).__name__, str(error) or repr(error))
                continue
            if 200 <= response.status_code < 300:
                tally.latencies.append(time.perf_counter() - sent)
            else:
                tally.fail(f"HTTP {response.status_code}", response.text)

    # Each request is bounded by the client's timeout; the whole run by this, in case.
    await asyncio.wait_for(
        asyncio.gather(*(one() for _ in range(job.connections))), seconds + job.timeout_s * 3 + 5
    )


async def _run_job(job: Job) -> Result:
    limits = httpx.Limits(
        max_connections=job.connections, max_keepalive_connections=job.connections
    )
    async with httpx.AsyncClient(
        base_url=job.base, headers=job.headers, limits=limits, timeout=job.timeout_s
    ) as client:
        warm = _Tally()
        try:
            await _hammer(client, job, job.warmup_s, warm)
            tally = _Tally()
            cpu, started = time.process_time(), time.perf_counter()
            await _hammer(client, job, job.duration_s, tally)
        except TimeoutError:
            return Result(0, 0, 0, 0, 1, "the load did not finish: requests hung past timeouts")
        elapsed = time.perf_counter() - started
        cpu = (time.process_time() - cpu) / elapsed
    lat = tally.latencies
    return Result(
        len(lat) / elapsed,
        len(lat),
        percentile(lat, 0.5) * 1000,
        percentile(lat, 0.99) * 1000,
        sum(tally.failures.values()),
        tally.first_error,
        cpu,
        sum(len(t.latencies) + sum(t.failures.values()) for t in (warm, tally)),
    )


WARM_PAIRS = 10


@dataclass(frozen=True)
class PairJob:
    """One connection to each app, asking for ``path`` of each in turn, for ``duration_s``."""

    bases: tuple[str, str]  # the baseline's, the real app's
    path: str
    headers: dict[str, str]
    duration_s: float
    timeout_s: float


@dataclass(frozen=True)
class PairResult:
    """Latencies of the pairs (ms): baseline and real app, and each pair's difference."""

    pairs: int
    p50_ms: tuple[float, float]
    p99_ms: tuple[float, float]
    added_ms: float  # median over the pairs of real − baseline
    failed: int = 0
    first_error: str = ""
    sent: int = 0  # requests to each app, warm-up included
    server_cpu_us: tuple[float, float] | None = None  # per request: baseline, real app


def _run_pair(job: PairJob) -> PairResult:
    """Sequential requests alternating between the two apps: whatever the machine does
    meanwhile, both see it alike."""
    lat: tuple[list[float], list[float]] = ([], [])
    tally = _Tally()
    with (
        httpx.Client(headers=job.headers, timeout=job.timeout_s) as baseline,
        httpx.Client(headers=job.headers, timeout=job.timeout_s) as real,
    ):
        clients = (baseline, real)
        for client, base in zip(clients, job.bases, strict=True):
            for _ in range(WARM_PAIRS):  # connected and warm
                client.get(base + job.path)
        end, turn = time.perf_counter() + job.duration_s, 0
        while time.perf_counter() < end:
            turn += 1
            pair: list[float] = [0.0, 0.0]
            for side in (0, 1) if turn % 2 else (1, 0):
                sent = time.perf_counter()
                try:
                    response = clients[side].get(job.bases[side] + job.path)
                except httpx.HTTPError as error:
                    tally.fail(type(error).__name__, str(error) or repr(error))
                    break
                if response.status_code != 200:
                    tally.fail(f"HTTP {response.status_code}", response.text)
                    break
                pair[side] = time.perf_counter() - sent
            else:
                lat[0].append(pair[0])
                lat[1].append(pair[1])
    added = [(b - a) * 1000 for a, b in zip(*lat, strict=True)]
    return PairResult(
        len(added),
        (percentile(lat[0], 0.5) * 1000, percentile(lat[1], 0.5) * 1000),
        (percentile(lat[0], 0.99) * 1000, percentile(lat[1], 0.99) * 1000),
        statistics.median(added) if added else 0.0,
        sum(tally.failures.values()),
        tally.first_error,
        WARM_PAIRS + len(added),
    )


def _load_worker(
    parent_pid: int, jobs: MpQueue[Job | PairJob | None], results: MpQueue[Result | PairResult]
) -> None:
    die_with_parent(parent_pid)
    while (job := jobs.get()) is not None:
        results.put(_run_pair(job) if isinstance(job, PairJob) else asyncio.run(_run_job(job)))


class HttpxLoad:
    """An httpx client pool (asyncio, keep-alive) in a spawned process of its own."""

    name = "httpx (asyncio client pool, 1 process)"

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._jobs: MpQueue[Job | PairJob | None] = ctx.Queue()
        self._results: MpQueue[Result | PairResult] = ctx.Queue()
        self._process = ctx.Process(
            target=_load_worker, args=(os.getpid(), self._jobs, self._results), daemon=True
        )
        self._process.start()

    def run(self, job: Job) -> Result:
        """Run ``job``; end the benchmark if no result comes in time."""
        result = self._result(job, job.warmup_s + job.duration_s + 3 * job.timeout_s + 30)
        assert isinstance(result, Result)
        return result

    def pair(self, job: PairJob) -> PairResult:
        """Run ``job``; end the benchmark if no result comes in time."""
        result = self._result(job, job.duration_s + 24 * job.timeout_s + 30)
        assert isinstance(result, PairResult)
        return result

    def _result(self, job: Job | PairJob, bound: float) -> Result | PairResult:
        self._jobs.put(job)
        try:
            return self._results.get(timeout=bound)
        except queue.Empty:
            self.stop()
            raise SystemExit(f"the load generator gave no result within {bound:.0f} s") from None

    def stop(self) -> None:
        """Let the worker end, or kill it."""
        if self._process.is_alive():
            self._jobs.put(None)
            self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)


_WRK_TIME = re.compile(r"([\d.]+)(us|ms|s|m|h)\b")
_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(text: str) -> Result:
    """Requests/s, p50 and p99 (``--latency``) and errors from wrk's report."""

    def ms(label: str) -> float:
        found = re.search(rf"^\s*{label}%\s+(\S+)", text, re.M)
        time_match = _WRK_TIME.fullmatch(found.group(1)) if found else None
        if time_match is None:
            return 0.0
        return float(time_match.group(1)) * _WRK_UNITS[time_match.group(2)]

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in", text, re.M)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    failed = sum(int(n) for n in sockets.groups()) if sockets else 0
    failed += int(non_2xx.group(1)) if non_2xx else 0
    first = ""
    if sockets and any(int(n) for n in sockets.groups()):
        first = sockets.group(0)
    elif non_2xx:
        first = non_2xx.group(0)
    answered = int(total.group(1)) if total else 0
    return Result(
        float(rate.group(1)) if rate else 0.0,
        max(0, answered - (int(non_2xx.group(1)) if non_2xx else 0)),
        ms("50"),
        ms("99"),
        failed,
        first,
    )


class WrkLoad:
    """wrk (``--latency``), two threads, the Authorization header on every request."""

    def __init__(self, wrk: str) -> None:
        self._wrk = wrk
        self.name = f"wrk ({wrk})"

    def _wrk_run(self, job: Job, seconds: float) -> str:
        argv = [self._wrk, "-t", str(min(2, job.connections)), "-c", str(job.connections)]
        argv += [
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            f"{max(1, round(job.timeout_s))}s",
        ]
        for name, value in job.headers.items():
            argv += ["-H", f"{name}: {value}"]
        argv += ["--latency", job.base + job.path]
        child = start_child(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = child.communicate(timeout=seconds + job.timeout_s + 30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise SystemExit(
                f"wrk did not finish within {seconds + job.timeout_s + 30:.0f} s"
            ) from None
        if child.returncode != 0:
            raise SystemExit(f"wrk failed ({child.returncode}): {out.decode(errors='replace')}")
        return out.decode(errors="replace")

    def run(self, job: Job) -> Result:
        """Warm up, then measure."""
        warm = parse_wrk(self._wrk_run(job, job.warmup_s)) if job.warmup_s > 0 else None
        result = parse_wrk(self._wrk_run(job, job.duration_s))
        sent = sum(r.ok + r.failed for r in (warm, result) if r is not None)
        return replace(result, sent=sent)

    def stop(self) -> None:
        """Nothing runs between jobs."""


# Logins ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timed:
    """Sequential timings of one kind of login (ms), and the statuses answered."""

    label: str
    ms: list[float]
    statuses: Counter[int]

    @property
    def p50(self) -> float:
        return percentile(self.ms, 0.5)

    @property
    def p99(self) -> float:
        return percentile(self.ms, 0.99)


def time_logins(base: str, n: int, timeout_s: float) -> list[Timed]:
    """``n`` logins each: right password, wrong password, unknown login name; interleaved."""
    kinds = {
        "right password (200)": {"login": LOGIN_USER, "password": PASSWORD},
        "wrong password (401)": {"login": LOGIN_USER, "password": WRONG_PASSWORD},
        "unknown login name (401)": {"login": "nobody-here", "password": WRONG_PASSWORD},
    }
    timings: dict[str, list[float]] = {k: [] for k in kinds}
    statuses: dict[str, Counter[int]] = {k: Counter() for k in kinds}
    with httpx.Client(base_url=base, timeout=timeout_s) as client:
        client.post("/api/v1/auth/login", json=kinds["right password (200)"])  # warm
        for i in range(n):
            for label, body in kinds.items():
                client.cookies.clear()
                sent = time.perf_counter()
                try:
                    response = client.post("/api/v1/auth/login", json=body)
                except httpx.HTTPError as error:
                    raise SystemExit(
                        f"a login got no answer within {timeout_s:g} s: {error!r}"
                    ) from None
                timings[label].append((time.perf_counter() - sent) * 1000)
                statuses[label][response.status_code] += 1
            if (i + 1) % 10 == 0:
                p50 = statistics.median(timings["right password (200)"])
                print(f"    {i + 1} of {n} of each, right password p50 {p50:.0f} ms", flush=True)
    return [Timed(k, timings[k], statuses[k]) for k in kinds]


def time_verify(n: int) -> Timed:
    """One Argon2id verify at the app's parameters, in this process."""
    stored = passwords.hash_password(PASSWORD)
    ms = []
    for _ in range(n):
        started = time.perf_counter()
        passwords.verify_password(stored, PASSWORD)
        ms.append((time.perf_counter() - started) * 1000)
    return Timed("Argon2id verify alone (in process)", ms, Counter())


def time_token_lookup(db: str, token: str, n: int) -> Timed:
    """The query ``authenticate`` runs for a token, alone, sequentially on one connection."""
    sql, params = load_query("auth_token"), {"token_hash": digest(token)}
    ms = []
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(sql, params)
        for _ in range(n):
            started = time.perf_counter()
            if conn.execute(sql, params).fetchone() is None:
                raise SystemExit("the token lookup found no user")
            ms.append((time.perf_counter() - started) * 1000)
    return Timed("token lookup query alone (in process)", ms, Counter())


# Requests -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One request measured."""

    key: str
    label: str
    path: str
    officer: bool = True  # also as the grid officer (whose area applies)

    def for_variant(self, variant: Variant) -> bool:
        """Whether ``variant`` asks for this request."""
        return self.officer or variant.key != "officer"


@dataclass(frozen=True)
class Variant:
    """Who asks, and of which app."""

    key: str
    label: str
    api: Api
    token: str


def requests_for(site: str, now: datetime) -> list[Request]:
    """The cases list, the two readings queries, and one without database work of its own."""
    day = urlencode(
        {"metric": "cod", "start": (now - timedelta(days=1)).isoformat(), "end": now.isoformat()}
    )
    week = urlencode(
        {
            "metric": "cod",
            "start": (now - timedelta(days=7)).isoformat(),
            "end": now.isoformat(),
            "bucket": "1h",
        }
    )
    readings = f"/api/v1/sites/{site}/readings"
    return [
        Request("cases", "`GET /api/v1/cases?limit=50`", "/api/v1/cases?limit=50"),
        Request("raw", "readings, 1 day raw (288 points)", f"{readings}?{day}"),
        Request("hourly", "readings, 7 days `bucket=1h` (168)", f"{readings}?{week}"),
        Request(
            "metric",
            "`GET /api/v1/metrics/cod` (no query of its own)",
            "/api/v1/metrics/cod",
            False,
        ),
    ]


def check_answers(requests: list[Request], variants: list[Variant], seeded: Seeded) -> list[str]:
    """Each request once per variant (200 expected), and what each principal gets back."""
    notes = []
    for request in requests:
        seen = []
        for variant in filter(request.for_variant, variants):
            response = httpx.get(
                variant.api.base + request.path,
                headers={"Authorization": f"Bearer {variant.token}"},
                timeout=30,
            )
            if response.status_code != 200:
                raise SystemExit(
                    f"{request.label} as {variant.label}: {response.status_code} {response.text}"
                )
            body = response.json()
            if request.key == "cases":
                seen.append(f"{variant.label}: count {body['count']:,}")
            elif request.key == "metric":
                seen.append(f"{variant.label}: {body['name']} ({body['unit']})")
            else:
                got = len(body.get("points") or body.get("buckets") or [])
                seen.append(f"{variant.label}: {got}")
        notes.append(f"{request.key}: " + "; ".join(seen))
    notes.append(
        f"cases in the grid officer's village: {seeded.officer_cases:,} of {seeded.cases:,}"
    )
    officer = next((v for v in variants if v.key == "officer"), None)
    if officer is not None:
        outside = requests[1].path.replace(seeded.site_id, seeded.other_site_id, 1)
        response = httpx.get(
            officer.api.base + outside,
            headers={"Authorization": f"Bearer {officer.token}"},
            timeout=30,
        )
        notes.append(
            f"the grid officer asking for a site outside the village: {response.status_code}"
        )
    return notes


def check_guard(real: Api, baseline: Api, path: str) -> str:
    """Without a token the real app must refuse (401); the baseline answers."""
    codes = [httpx.get(api.base + path, timeout=30).status_code for api in (real, baseline)]
    if codes[0] != 401:
        raise SystemExit(f"the real app answered {codes[0]} to a request without a token")
    return f"without a token: real app {codes[0]}, baseline {codes[1]}"


def measure(
    load: HttpxLoad | WrkLoad,
    cpu: ServerCpu,
    requests: list[Request],
    variants: list[Variant],
    args: argparse.Namespace,
) -> dict[tuple[str, str], list[Result]]:
    """Every request × variant, ``args.rounds`` times, the variants' order alternating."""
    results: dict[tuple[str, str], list[Result]] = {
        (r.key, v.key): [] for r in requests for v in filter(r.for_variant, variants)
    }
    for round_no in range(args.rounds):
        for request in requests:
            order = variants if round_no % 2 == 0 else variants[::-1]
            for variant in filter(request.for_variant, order):
                job = Job(
                    variant.api.base,
                    request.path,
                    {"Authorization": f"Bearer {variant.token}"},
                    args.connections,
                    args.warmup_s,
                    args.duration_s,
                    args.timeout_s,
                )
                before = cpu.snapshot(variant.api.pid)
                result = load.run(job)
                used = cpu.used(before, cpu.snapshot(variant.api.pid))
                if used is not None and result.sent:
                    result = replace(result, server_cpu_us=used / result.sent * 1e6)
                results[(request.key, variant.key)].append(result)
                verdict = "" if result.taken else f"  NOT taken: {result.failed:,} failed, "
                verdict += result.first_error if not result.taken else ""
                server = result.server_cpu_us
                used_text = f", server CPU {server:,.0f} µs/request" if server else ""
                used_text += f", client CPU {result.client_cpu:.0%}" if result.client_cpu else ""
                print(
                    f"  round {round_no + 1}  {request.key:<6} {variant.label:<22}"
                    f" {result.rate:>7,.0f}/s  p50 {result.p50_ms:6.1f} ms"
                    f"  p99 {result.p99_ms:6.1f} ms{used_text}{verdict}",
                    flush=True,
                )
    return results


def measure_pairs(
    pool: HttpxLoad,
    cpu: ServerCpu,
    requests: list[Request],
    variants: list[Variant],
    args: argparse.Namespace,
) -> dict[str, PairResult]:
    """Each request, one at a time, alternating the baseline and the real app (admin token)."""
    baseline, real = variants
    paired = {}
    for request in requests:
        before = [cpu.snapshot(v.api.pid) for v in variants]
        result = pool.pair(
            PairJob(
                (baseline.api.base, real.api.base),
                request.path,
                {"Authorization": f"Bearer {real.token}"},
                args.paired_s,
                args.timeout_s,
            )
        )
        if result.failed:
            raise SystemExit(f"{request.label}: {result.failed} failed: {result.first_error}")
        used = [cpu.used(b, cpu.snapshot(v.api.pid)) for b, v in zip(before, variants, strict=True)]
        if used[0] is not None and used[1] is not None:
            per = (used[0] / result.sent * 1e6, used[1] / result.sent * 1e6)
            result = replace(result, server_cpu_us=per)
        paired[request.key] = result
        cpu_text = ""
        if result.server_cpu_us is not None:
            cpu_text = "; server CPU {:,.0f} / {:,.0f} µs".format(*result.server_cpu_us)
        print(
            f"  {request.key:<6} {result.pairs} pairs: p50 {result.p50_ms[0]:.2f} ms without the"
            f" check, {result.p50_ms[1]:.2f} ms with it; it adds {result.added_ms * 1000:+,.0f} µs"
            f"{cpu_text}",
            flush=True,
        )
    return paired


# Report ---------------------------------------------------------------------------------------
def request_table(
    requests: list[Request],
    variants: list[Variant],
    results: dict[tuple[str, str], list[Result]],
) -> list[str]:
    """Medians per request and variant, the ratio to the baseline of the same round, and the
    server's CPU per request (the app's process and its PostgreSQL backends)."""
    lines = [
        "| request | auth | requests/s | p50 ms | p99 ms | vs no check (range)"
        " | server CPU µs/request | the check adds |",
        "|---|---|---:|---:|---:|---|---:|---:|",
    ]
    base_key = variants[0].key
    for request in requests:
        base = results[(request.key, base_key)]
        for variant in filter(request.for_variant, variants):
            runs = results[(request.key, variant.key)]
            rate = statistics.median(r.rate for r in runs)
            p50 = statistics.median(r.p50_ms for r in runs)
            p99 = statistics.median(r.p99_ms for r in runs)
            cpus = [r.server_cpu_us for r in runs if r.server_cpu_us is not None]
            cpu = f"{statistics.median(cpus):,.0f}" if cpus else "—"
            ratio = cost = ""
            if variant.key != base_key:
                pairs = [(r, b) for r, b in zip(runs, base, strict=True) if r.rate and b.rate]
                ratios = [r.rate / b.rate for r, b in pairs]
                if ratios:
                    ratio = (
                        f"{statistics.median(ratios):.2f} × ({min(ratios):.2f}–{max(ratios):.2f})"
                    )
                # The officer's handlers do other work (their area): not the check's cost.
                costs = [
                    r.server_cpu_us - b.server_cpu_us
                    for r, b in pairs
                    if r.server_cpu_us is not None and b.server_cpu_us is not None
                ]
                if costs and variant.key == "admin":
                    cost = f"{statistics.median(costs):+,.0f} µs"
            failed = sum(r.failed for r in runs)
            note = f" ({failed:,} failed)" if failed else ""
            lines.append(
                f"| {request.label} | {variant.label}{note} | {rate:,.0f} | {p50:.1f} | {p99:.1f}"
                f" | {ratio} | {cpu} | {cost} |"
            )
    return lines


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def pair_table(requests: list[Request], paired: dict[str, PairResult]) -> list[str]:
    """One request at a time: latency and server CPU without and with the check."""
    lines = [
        "| one at a time | pairs | p50 ms: no check / token | p99 ms: no check / token"
        " | latency added (median) | server CPU µs/request: no check / token | CPU added |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for request in requests:
        r = paired[request.key]
        cpu = added = "—"
        if r.server_cpu_us is not None:
            base, real = r.server_cpu_us
            cpu, added = (
                f"{base:,.0f} / {real:,.0f}",
                f"{real - base:+,.0f} µs ({real / base - 1:+.1%})",
            )
        lines.append(
            f"| {request.label} | {r.pairs:,} | {_ms(r.p50_ms[0])} / {_ms(r.p50_ms[1])}"
            f" | {_ms(r.p99_ms[0])} / {_ms(r.p99_ms[1])} | {r.added_ms * 1000:+,.0f} µs"
            f" ({r.added_ms / r.p50_ms[0]:+.1%}) | {cpu} | {added} |"
        )
    return lines


def login_table(timings: list[Timed]) -> list[str]:
    """p50 / p99 per kind of login (and the other timings alongside)."""
    lines = ["| login | n | p50 ms | p99 ms | statuses |", "|---|---:|---:|---:|---|"]
    for t in timings:
        codes = ", ".join(f"{code} × {n}" for code, n in sorted(t.statuses.items()))
        lines.append(f"| {t.label} | {len(t.ms)} | {_ms(t.p50)} | {_ms(t.p99)} | {codes} |")
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sites", type=int, default=100, help="sites, one node each (100)")
    parser.add_argument("--cases", type=int, default=10_000, help="cases (10,000)")
    parser.add_argument("--days", type=int, default=7, help="days of 5-minute readings (7)")
    parser.add_argument("--logins", type=int, default=40, help="logins timed of each kind (40)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (8)")
    parser.add_argument("--duration-s", type=float, default=1.5, help="measuring window (1.5 s)")
    parser.add_argument("--warmup-s", type=float, default=0.25, help="load before it (0.25 s)")
    parser.add_argument("--rounds", type=int, default=6, help="alternations of the variants (6)")
    parser.add_argument(
        "--paired-s",
        type=float,
        default=4.0,
        help="one request at a time, alternating the two apps, per request kind (4 s)",
    )
    parser.add_argument("--timeout-s", type=float, default=10.0, help="per request (10 s)")
    parser.add_argument(
        "--no-officer", action="store_true", help="skip the grid officer's token (faster)"
    )
    parser.add_argument(
        "--httpx", action="store_true", help="use the httpx client pool even if wrk is installed"
    )
    args = parser.parse_args(argv)
    if args.sites < 5 or args.cases < 1 or args.days < 1 or args.rounds < 1:
        parser.error("need at least 5 sites, 1 case, 1 day and 1 round")
    if args.connections < 1 or args.duration_s <= 0 or args.logins < 1:
        parser.error("need at least 1 connection, 1 login and a positive duration")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Seed, serve both apps, time the logins and the requests, print the tables."""
    exit_on_sigterm()
    args = parse_args(argv)
    # On the hour: a day holds 288 readings of a site, a week 168 whole hours.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    wrk = None if args.httpx else shutil.which("wrk")
    with bench_database("envgrid_bench_api") as db:
        started = time.monotonic()
        seeded = seed(db, args.sites, args.cases, args.days, now)
        print(
            f"seeded {args.sites} sites, {seeded.cases:,} cases, {seeded.readings:,} readings"
            f" in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        real, baseline = Api(db, check=True), Api(db, check=False)
        pool: HttpxLoad | None = None
        cpu: ServerCpu | None = None
        try:
            real.start()
            baseline.start()
            pool, cpu = HttpxLoad(), ServerCpu(db)
            load: HttpxLoad | WrkLoad = WrkLoad(wrk) if wrk else pool
            print(f"load generator: {load.name}", flush=True)

            print(f"logins: {args.logins} of each kind, one at a time", flush=True)
            logins = time_logins(real.base, args.logins, args.timeout_s)
            logins.append(time_verify(args.logins))
            logins.append(time_token_lookup(db, seeded.tokens[OFFICER], 10 * args.logins))

            variants = [
                Variant("none", "no token check", baseline, seeded.tokens[ADMIN]),
                Variant("admin", "token: admin", real, seeded.tokens[ADMIN]),
            ]
            if not args.no_officer:
                variants.append(
                    Variant("officer", "token: grid officer", real, seeded.tokens[OFFICER])
                )
            requests = requests_for(seeded.site_id, now)
            notes = check_answers(requests, variants, seeded)
            notes.append(check_guard(real, baseline, requests[0].path))
            for note in notes:
                print(f"  {note}", flush=True)
            print(
                f"one request at a time, alternating the apps: {args.paired_s:g} s each",
                flush=True,
            )
            paired = measure_pairs(pool, cpu, requests, variants[:2], args)
            print(
                f"requests: {args.connections} connections, {args.duration_s:g} s each after"
                f" {args.warmup_s:g} s, {args.rounds} rounds",
                flush=True,
            )
            results = measure(load, cpu, requests, variants, args)
        finally:  # whatever went wrong, the servers and the load must not outlive us
            if pool is not None:
                pool.stop()
            if cpu is not None:
                cpu.close()
            real.stop()
            baseline.stop()

    load_name = f"wrk ({wrk})" if wrk else HttpxLoad.name
    print()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"database: {args.sites} sites, {seeded.cases:,} cases, {seeded.readings:,} readings")
    print(
        f"Argon2id: time_cost {passwords.TIME_COST}, memory {passwords.MEMORY_COST_KIB // 1024}"
        f" MiB, parallelism {passwords.PARALLELISM}; load: {load_name}, {args.connections}"
        f" connections, medians of {args.rounds} rounds of {args.duration_s:g} s"
    )
    for note in notes:
        print(f"  {note}")
    print()
    print("\n".join(login_table(logins)))
    print()
    print("\n".join(pair_table(requests, paired)))
    print()
    print("\n".join(request_table(requests, variants, results)))
    print(
        "server CPU: the app's process and its PostgreSQL backends, over every request of a run"
        " (warm-up included); the check adds: the median over the rounds of the difference.\n"
        "The grid officer's requests do the work of their area (their village's cases only, the"
        " site checked against it): their ratio is for scale, not the check's cost."
    )
    untaken = [
        f"{request} as {variant}"
        for (request, variant), runs in results.items()
        if not all(r.taken for r in runs)
    ]
    if untaken:
        print(f"\nthe system did not take the load (≥ 1 % failed): {', '.join(untaken)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
