"""The duty desk on a county's worth of data: time to first render, server time, live push.

A throw-away database is seeded with COPY like a county after a year: one township of four
villages, ``--sites`` sites with a node each reporting COD, NH3-N, TP and pH every 5 minutes for
``--days`` (100 × 365 days: 10.5 million readings), ``--cases`` cases (300 open, the rest closed
or dismissed over the period, each with its steps), the latest values as the ingest keeps them,
a reviewer of the township for the browser and ``--clients`` more reviewers for the live list.
A second, small database (the same grid, sites and reviewer, 60 open cases: a first page as
full, 2 days of readings) is the render baseline. ``envgrid cloud`` serves each (the big one
with its ingest and its own Mosquitto, the small one ``--api-only``), with sign-in on as always.

1. Render, in Debian's Chromium (headless, Playwright, 1280 × 860, zh-CN), signed in with a
   session cookie from the real login: navigation start → the case list's first card, the case
   file with its chart, the site page with its day chart, and the same site page switched to
   its month chart (tapped as soon as the switch is there: tap → month chart drawn, and
   navigation start → month chart drawn). "Drawn" is the first animation frame after the
   element (the chart's canvas) is in the page with a size, seen by a MutationObserver
   installed before the page's own scripts. The first load of each page in a fresh browser
   profile (empty cache, first request of its kind to a freshly started server) is reported
   alone as cold; then ``--loads`` loads each, alternating the big and the small server, each
   on another case or site: p50 / p95.
2. Server time of the desk's data requests: the desk's pages get their data on the server
   (NiceGUI renders them there; the browser makes no data request of its own), so the data
   request is the page's document request, and its server time is Resource Timing's
   requestStart → responseStart of that document as the browser saw it (localhost: no
   network to speak of): p50 / p95 per page, both servers.
3. Live push: ``--clients`` reviewers sign in (the real login) and each opens the live list as
   a browser does, in a process of their own: the page's GET, then its socket.io connection
   (python-socketio, websocket) with the page's client id, acknowledging what it receives
   every 3 s as NiceGUI's script does. A breach (COD 45 mg/L at a water-body site of class
   III: limit 20) is published to the cloud's broker at QoS 1; the ingest raises the case and
   every open list is pushed its card. Per probe: publish → the card's update received by each
   client; "all" is the last of them. The baseline is the same with one client, in the same
   run, before the others connect; a real Chromium page on the list among the many is timed
   too (its MutationObserver's clock). p50 / p99 / max over ``--probes`` probes.

Every wait is bounded (``--timeout-s``): a page that does not render, clients that cannot all
connect, or a case that does not reach every client in time ends the benchmark saying how far
it got (exit status 1). Run: ``.venv/bin/python -m bench.desk`` (seeding 10 million readings
takes minutes; ``--quick`` is a small smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import psycopg

from bench.support import bench_database, exit_on_sigterm, percentile, synthetic_county
from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_cli.services.ports import free_port
from envgrid_cloud.auth import accounts
from envgrid_cloud.desk.i18n import t
from envgrid_common.lifecycle import die_with_parent, start_child
from envgrid_common.mqtt import BrokerAddress, check_publish, connect, new_client
from envgrid_common.topics import Topics

COUNTY, TOWN = "desk-county", "desk-town"
VILLAGES = tuple(f"desk-village-{i}" for i in range(1, 5))
OPEN_RULES = ("cod", "nh3n", "no_data")
CLOSED_RULES = (*OPEN_RULES, "tp", "ph", "cod_stuck", "offline")
OPEN_STATES = ("raised", "dispatched", "acknowledged", "inspecting", "rectifying", "reported")
SEVERITIES = ("low", "medium", "high", "critical")
READING_EVERY = timedelta(minutes=5)
METRICS = ("cod", "nh3n", "tp", "ph")
REVIEWER, PASSWORD = "desk-reviewer", "desk-bench-password"
LIVE_PREFIX = "desk-live-"
PROBE_PREFIX = "desk-probe-"
SESSION_COOKIE = "envgrid_session"
SMALL_CASES, SMALL_DAYS = 60, 2  # the baseline database: a full first page of open cases
VIEWPORT = {"width": 1280, "height": 860}
CHROMIUM = "/usr/bin/chromium"
# No network beyond the desk itself: no QUIC, sync, updates or field trials (the desk's
# browser tests start Chromium the same way).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Installed before the page's scripts: when each watched element is first in the page with a
# size (the first animation frame after), and when each case card first appeared (wall clock).
WATCH_JS = """
(() => {
  const want = {
    list: '[data-case]',
    summary: '[data-testid=case-summary]',
    caseChart: '[data-testid=case-chart] canvas',
    siteChart: '[data-testid=site-chart]:not([data-eg-old]) canvas',
    period: '[data-testid=site-period]',
  };
  const seen = {};
  const cards = {};
  window.__egSeen = seen;
  window.__egCards = cards;
  window.__egWant = want;
  const check = () => {
    for (const [key, selector] of Object.entries(want)) {
      if (key in seen) continue;
      const el = document.querySelector(selector);
      if (!el) continue;
      const box = el.getBoundingClientRect();
      if (box.width > 0 && box.height > 0) {
        seen[key] = 0;
        requestAnimationFrame(() => { seen[key] = performance.now(); });
      }
    }
    for (const el of document.querySelectorAll('[data-case]')) {
      const id = el.getAttribute('data-case');
      if (!(id in cards)) cards[id] = Date.now();
    }
  };
  window.__egCheck = check;
  new MutationObserver(check).observe(document, {childList: true, subtree: true, attributes: true});
})();
"""


class TooSlow(Exception):
    """The machine did not take the load within the time given: the message says how far."""


# Seeding ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Seeded:
    """What the measurements pick from."""

    sites: list[str]
    chart_cases: list[int]  # cases with a metric and readings around them: their file has a chart
    probes: list[str]  # probe sites: a breach there raises a new case
    live_logins: list[str]
    cases: int
    readings: int
    seconds: float


def seed(
    db: str, n_sites: int, n_cases: int, days: int, n_live: int, n_probes: int, now: datetime
) -> Seeded:
    """The grid, sites, nodes, accounts, cases with their steps, readings and latest values."""
    started = time.monotonic()
    rng = random.Random(7)
    cells, sites = synthetic_county(COUNTY, TOWN, VILLAGES, n_sites)
    probes = [(f"{PROBE_PREFIX}{i:03d}", f"探针{i:03d}", "water_body", VILLAGES[0])
              for i in range(n_probes)]  # fmt: skip
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO grid_cells (id, level, name, parent_id) VALUES (%s, %s, %s, %s)", cells
        )
        cur.executemany(
            "INSERT INTO sites (id, name, category, cell_id) VALUES (%s, %s, %s, %s)",
            sites + probes,
        )
        # Probe nodes report once a day: the no-data sweep stays quiet while they are silent.
        cur.executemany(
            "INSERT INTO nodes (id, site_id, report_interval_s, status, status_at)"
            " VALUES (%s, %s, %s, 'online', now())",
            [(f"node-{s[0]}", s[0], 300) for s in sites]
            + [(f"node-{s[0]}", s[0], 86400) for s in probes],
        )
        cur.execute(
            "UPDATE sites SET target_class = 'III', water_type = 'river'"
            " WHERE category = 'water_body'"
        )
        cur.executemany(
            "INSERT INTO users (id, login, name, role, cell_id) VALUES (%s, %s, %s, %s, %s)",
            [(f"officer-{v}", f"officer-{v}", f"{i + 1}村网格员", "grid_officer", v)
             for i, v in enumerate(VILLAGES)],
        )  # fmt: skip
    with accounts.connect(db) as people:
        accounts.add_user(
            people, accounts.NewUser(REVIEWER, REVIEWER, "值班审核员", "reviewer", TOWN), PASSWORD
        )
    live = [f"{LIVE_PREFIX}{i:03d}" for i in range(n_live)]
    with psycopg.connect(db) as conn:
        # One Argon2id hash for all of them: hashing 200 passwords would take half a minute.
        conn.execute(
            "INSERT INTO users (id, login, name, role, cell_id, password_hash)"
            " SELECT l, l, '值班' || l, 'reviewer', %s,"
            " (SELECT password_hash FROM users WHERE id = %s) FROM unnest(%s::text[]) l",
            [TOWN, REVIEWER, live],
        )
    rows = _cases(rng, sites, n_cases, days, now)
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY cases (site_id, rule_id, township_id, node_id, metric, severity, state, title,"
            " detail, first_seen_at, last_seen_at, raised_at, occurrences, first_value,"
            " last_value, peak_value, cleared_at, assignee_id, assigned_cell_id, ack_due_at,"
            " close_due_at, closed_at, updated_at) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        _case_events(cur)
    print(f"  {len(rows):,} cases with their steps", flush=True)
    n_readings = _copy_readings(db, [s[0] for s in sites], days, now, rng)
    with psycopg.connect(db, autocommit=True) as conn:
        # What autovacuum would do after such a load, done now so it does not run mid-measure.
        print("  VACUUM ANALYZE", flush=True)
        conn.execute("VACUUM (ANALYZE) readings")
        conn.execute("ANALYZE")
        chart_cases = [
            int(r[0])
            for r in conn.execute(
                "SELECT id FROM cases WHERE metric IS NOT NULL AND first_seen_at > %s ORDER BY id",
                [now - timedelta(days=days) + timedelta(hours=3)],
            ).fetchall()
        ]
    return Seeded(
        [s[0] for s in sites],
        chart_cases,
        [p[0] for p in probes],
        live,
        len(rows),
        n_readings,
        time.monotonic() - started,
    )


def _cases(
    rng: random.Random, sites: list[tuple[str, str, str, str]], n: int, days: int, now: datetime
) -> list[tuple[object, ...]]:
    """One open case per site and open rule (up to 300), the rest closed or dismissed over the
    period; each assigned to its village's grid officer."""
    opened = [(s, r) for s in sites for r in OPEN_RULES][: min(n, len(sites) * len(OPEN_RULES))]
    rows: list[tuple[object, ...]] = []
    span = max(days - 0.2, 0.1)
    for i in range(n):
        is_open = i < len(opened)
        site, rule = opened[i] if is_open else (rng.choice(sites), rng.choice(CLOSED_RULES))
        raised = now - timedelta(days=rng.uniform(0.01, min(span, 30) if is_open else span))
        seen = raised + timedelta(minutes=rng.uniform(0, 120))
        value = round(rng.uniform(21, 80), 2)
        if is_open:  # deadlines ahead: the escalation sweep finds nothing to do
            state, closed = rng.choice(OPEN_STATES), None
            ack_due, close_due = now + timedelta(days=30), now + timedelta(days=60)
        else:
            state = "closed" if rng.random() < 0.9 else "dismissed"
            closed = raised + timedelta(days=rng.uniform(0.1, 10))
            ack_due, close_due = raised + timedelta(hours=2), raised + timedelta(days=3)
        metric = rule if rule in METRICS else ("cod" if rule == "cod_stuck" else None)
        detail = orjson.dumps({"limit": 20, "unit": "mg/L", "basis": "GB 3838-2002 表 1 III 类"})
        rows.append(
            (site[0], rule, TOWN, f"node-{site[0]}", metric, rng.choice(SEVERITIES), state,
             f"{site[1]} {rule}", detail.decode(), raised, seen, raised, rng.randint(1, 40),
             value, value, value + rng.uniform(0, 10), closed, f"officer-{site[3]}", site[3],
             ack_due, close_due, closed, closed or seen)
        )  # fmt: skip
    return rows


# Each case's steps so far, as the case store records them (the file shows every one).
_STEPS = (
    ("raised", None, "raised", "'system'", "0 s", "true"),
    ("dispatched", "raised", "dispatched", "'system'", "1 s", "true"),
    ("acknowledge", "dispatched", "acknowledged", "assignee_id", "20 min",
     "state NOT IN ('raised', 'dispatched')"),
    ("inspect", "acknowledged", "inspecting", "assignee_id", "2 h",
     "state IN ('inspecting', 'rectifying', 'reported', 'closed')"),
    ("rectify", "inspecting", "rectifying", "assignee_id", "6 h",
     "state IN ('rectifying', 'reported', 'closed')"),
    ("report", "rectifying", "reported", "assignee_id", "1 day",
     "state IN ('reported', 'closed')"),
    ("close", "reported", "closed", "'desk-reviewer'", "2 days", "state = 'closed'"),
    ("dismiss", "dispatched", "dismissed", "'desk-reviewer'", "3 h", "state = 'dismissed'"),
)  # fmt: skip


def _case_events(cur: psycopg.Cursor[Any]) -> None:
    for action, before, after, actor, delay, which in _STEPS:
        text = (
            # Built from this module's own constant steps, never from input.
            "INSERT INTO case_events (case_id, at, actor, action, from_state, to_state, notes)"  # noqa: S608
            f" SELECT id, raised_at + interval '{delay}', {actor}, '{action}',"
            f" {'NULL' if before is None else repr(before)}, '{after}', NULL"
            f" FROM cases WHERE {which}"
        )
        cur.execute(text.encode())  # our own constants: no parameters to bind


def _copy_readings(db: str, sites: list[str], days: int, now: datetime, rng: random.Random) -> int:
    """Every 5 minutes for ``days`` up to ``now`` per site (COPY, text), and the latest values
    the ingest would have kept; progress every few sites."""
    start = now - timedelta(days=days)
    steps = int(timedelta(days=days) / READING_EVERY)
    stamps = [(start + i * READING_EVERY).isoformat().encode() for i in range(steps)]
    total = steps * len(sites)
    written, began, latest = 0, time.monotonic(), []
    print(f"  readings: {total:,} by COPY", flush=True)
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        with cur.copy("COPY readings (node_id, ts, seq, vals, flags) FROM STDIN") as copy:
            for n, site in enumerate(sites):
                node = f"node-{site}".encode()
                base = rng.uniform(8, 16)
                lines = []
                for seq, stamp in enumerate(stamps):
                    # A daily swing around the site's own level, and noise.
                    swing = 3.0 * ((seq % 288) / 144.0 - 1.0) ** 2
                    cod = base + swing + rng.random() * 3
                    nh3n, tp, ph = (
                        0.2 + rng.random(),
                        0.05 + rng.random() * 0.25,
                        6.8 + rng.random(),
                    )
                    flags = b'{"cod": "C"}' if seq % 200 == 0 else b"\\N"
                    lines.append(
                        b'%s\t%s\t%d\t{"cod": %.2f, "nh3n": %.3f, "tp": %.3f, "ph": %.2f}\t%s\n'
                        % (node, stamp, seq, cod, nh3n, tp, ph, flags)
                    )
                copy.write(b"".join(lines))
                last = start + (steps - 1) * READING_EVERY
                latest += [
                    (f"node-{site}", m, last, steps - 1, round(v, 3))
                    for m, v in zip(METRICS, (cod, nh3n, tp, ph), strict=True)
                ]
                written += steps
                if (n + 1) % 10 == 0 or n + 1 == len(sites):
                    rate = written / max(time.monotonic() - began, 1e-9)
                    print(f"    {written:>11,} of {total:,} readings ({rate:,.0f}/s)", flush=True)
        cur.executemany(
            "INSERT INTO latest_values (node_id, metric, ts, seq, value)"
            " VALUES (%s, %s, %s, %s, %s)",
            latest,
        )
    return written


# The cloud, as envgrid cloud serves it --------------------------------------------------------
class Cloud:
    """``envgrid cloud`` on a database (with its own Mosquitto unless ``api_only``)."""

    def __init__(self, work: Path, db: str, name: str, *, api_only: bool) -> None:
        self.db = db
        self.name = name
        self.broker = None if api_only else MosquittoBroker(work / f"{name}-broker").start()
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = work / f"{name}-cloud.log"
        # Our own settings only; a test run's mark stays, so its leftover check sees them.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ENVGRID_") or k == "ENVGRID_TEST_SESSION"
        }
        env |= {
            "ENVGRID_DATABASE_URL": db,
            "ENVGRID_API_PORT": str(port),
            "ENVGRID_INGEST_WORKERS": "1",
            "ENVGRID_INGEST_CLIENT_ID": f"desk-{uuid.uuid4().hex[:6]}",
            "ENVGRID_LOG_LEVEL": "WARNING",
            "ENVGRID_DESK_URL": self.base,
        }
        if self.broker is not None:
            env["ENVGRID_MQTT_URL"] = self.broker.url
        args = ["cloud", "--api-only"] if api_only else ["cloud"]
        with self.log.open("ab") as log:
            self.process = start_child(
                [sys.executable, "-m", "envgrid_cli", *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = 90) -> None:
        """Until the desk's sign-in page answers."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the {self.name} cloud exited: see {self.log}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/login", timeout=5).status_code == 200:
                    return
            time.sleep(0.3)
        raise SystemExit(f"the {self.name} cloud did not come up in {timeout_s:g} s ({self.log})")

    def login(self, login: str) -> str:
        """A session cookie from the real login."""
        response = httpx.post(
            f"{self.base}/api/v1/auth/login",
            json={"login": login, "password": PASSWORD},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.cookies[SESSION_COOKIE])

    def slow_pages(self) -> int:
        """Pages NiceGUI gave up building (its response_timeout: 500), from the cloud's log."""
        try:
            return self.log.read_text(errors="replace").count("not ready after")
        except OSError:
            return 0

    def memory_mb(self) -> tuple[float, float]:
        """The cloud process's resident memory now and at its peak (MB; 0 where unknown)."""
        found = {"VmRSS": 0.0, "VmHWM": 0.0}
        with suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in found:
                    found[key] = int(value.split()[0]) / 1024
        return found["VmRSS"], found["VmHWM"]

    def stop(self) -> None:
        """The cloud (its ingest drains), then its broker."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.broker is not None:
            self.broker.stop()


# Render in Chromium ---------------------------------------------------------------------------
@dataclass
class Load:
    """One page load: when each thing was drawn (ms from navigation start), server time."""

    drawn_ms: float
    server_ms: float
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class Renders:
    """Per server and measure: the cold load and the warm ones."""

    cold: dict[tuple[str, str], float] = field(default_factory=dict)
    warm: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    server: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, server: str, what: str, value: float, cold: bool) -> None:
        """Record a time (ms)."""
        if cold:
            self.cold[(server, what)] = value
        else:
            self.warm.setdefault((server, what), []).append(value)


class Desk:
    """A signed-in browser profile on one server."""

    def __init__(self, browser: Any, cloud: Cloud, cookie: str, timeout_s: float) -> None:
        self.cloud = cloud
        self.timeout_ms = timeout_s * 1000
        self.context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=cloud.base)
        self.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": cloud.base}])
        self.context.add_init_script(WATCH_JS)
        self.page = self.context.new_page()

    def close(self) -> None:
        """Close the profile."""
        self.context.close()

    def _wait(self, key: str, what: str) -> float:
        try:
            self.page.wait_for_function(
                f"() => window.__egSeen && window.__egSeen.{key} > 0", timeout=self.timeout_ms
            )
        except Exception as error:  # Playwright's TimeoutError, or the page went away
            raise TooSlow(
                f"{what} on the {self.cloud.name} server was not drawn within "
                f"{self.timeout_ms / 1000:g} s ({type(error).__name__})"
            ) from error
        return float(self.page.evaluate(f"window.__egSeen.{key}"))

    def _goto(self, path: str) -> None:
        self.page.goto(path, wait_until="commit", timeout=self.timeout_ms)

    def server_ms(self) -> float:
        """The document's requestStart → responseStart (Resource Timing)."""
        return float(
            self.page.evaluate(
                "(() => { const n = performance.getEntriesByType('navigation')[0];"
                " return n.responseStart - n.requestStart; })()"
            )
        )

    def case_list(self) -> Load:
        """Navigation start → the first case card drawn."""
        self._goto("/")
        drawn = self._wait("list", "the case list")
        return Load(drawn, self.server_ms())

    def case_file(self, case_id: int) -> Load:
        """Navigation start → the file's summary and its chart drawn."""
        self._goto(f"/cases/{case_id}")
        summary = self._wait("summary", f"case file {case_id}")
        chart = self._wait("caseChart", f"the chart of case file {case_id}")
        return Load(max(summary, chart), self.server_ms())

    def site(self, site_id: str) -> Load:
        """Navigation start → the day chart; then the month tapped as soon as the switch is
        there: tap → month chart drawn, and navigation start → month chart drawn."""
        self._goto(f"/sites/{site_id}")
        day = self._wait("siteChart", f"site {site_id}'s chart")
        server = self.server_ms()
        self._wait("period", f"site {site_id}'s period switch")
        tapped = float(
            self.page.evaluate(
                "(() => { document.querySelectorAll('[data-testid=site-chart]')"
                ".forEach(e => e.setAttribute('data-eg-old', '1'));"
                " delete window.__egSeen.siteChart; return performance.now(); })()"
            )
        )
        month_word = t("month", "zh-CN")  # the switch's label, as the desk words it
        switch = self.page.get_by_test_id("site-period")
        switch.get_by_role("button", name=month_word, exact=True).click(timeout=self.timeout_ms)
        month = self._wait("siteChart", f"site {site_id}'s month chart")
        return Load(day, server, {"month": month - tapped, "with_month": month})


def measure_renders(
    browser: Any,
    clouds: dict[str, Cloud],
    seeded: dict[str, Seeded],
    loads: int,
    timeout_s: float,
) -> Renders:
    """Cold loads in fresh profiles, then ``loads`` of each page alternating the servers."""
    renders = Renders()
    rng = random.Random(3)
    cookies = {name: cloud.login(REVIEWER) for name, cloud in clouds.items()}

    def one(desk: Desk, name: str, kind: str, cold: bool) -> None:
        data = seeded[name]
        if kind == "list":
            load = desk.case_list()
        elif kind == "file":
            load = desk.case_file(rng.choice(data.chart_cases))
        else:
            load = desk.site(rng.choice(data.sites))
        renders.add(name, kind, load.drawn_ms, cold)
        renders.server.setdefault((name, kind), []).append(load.server_ms)
        for key, value in load.extra.items():
            renders.add(name, key, value, cold)

    desks: dict[str, Desk] = {}
    try:
        for kind in ("list", "file", "site"):
            for name, cloud in clouds.items():  # cold: a fresh profile, the server's first
                fresh = Desk(browser, cloud, cookies[name], timeout_s)
                try:
                    one(fresh, name, kind, cold=True)
                finally:
                    fresh.close()
        print(f"  cold loads done; {loads} warm loads of each page on each server", flush=True)
        for name, cloud in clouds.items():
            desks[name] = Desk(browser, cloud, cookies[name], timeout_s)
            desks[name].case_list()  # its cache warmed: what a desk PC holds after a while
        for i in range(loads):
            order = list(clouds) if i % 2 == 0 else list(clouds)[::-1]
            for kind in ("list", "file", "site"):
                for name in order:
                    one(desks[name], name, kind, cold=False)
    finally:
        for desk in desks.values():
            desk.close()
    return renders


# The live list's clients, in a process of their own --------------------------------------------
RELOADS = 3  # a live list's page that answers 5xx is loaded again this many times
QUERY_RE = re.compile(
    r"""["']client_id["']\s*:\s*["']([^"']+)["'].*?["']next_message_id["']\s*:\s*(\d+)""", re.S
)


def _swarm(parent_pid: int, pipe: Connection, base: str, logins: list[str]) -> None:
    """Serve the benchmark's commands: ``("connect", n)``, ``("arrivals", case_id)``,
    ``("stop",)``."""
    die_with_parent(parent_pid)
    asyncio.run(_swarm_main(pipe, base, logins))


@dataclass
class _ListClient:
    """One open live list: its page's client id, its socket, when each card first came."""

    cookie: str
    sio: Any = None
    client_id: str = ""
    next_id: int = 0
    cards: dict[int, float] = field(default_factory=dict)

    def on_update(self, message: dict[str, Any]) -> None:
        """Note the first arrival of every case card (NiceGUI's update: element id → element)."""
        at = time.time()
        message_id = message.get("_id")
        if isinstance(message_id, int):
            self.next_id = max(self.next_id, message_id + 1)
        for element in message.values():
            if isinstance(element, dict):
                case = (element.get("props") or {}).get("data-case")
                if case is not None:
                    self.cards.setdefault(int(case), at)


async def _swarm_main(pipe: Connection, base: str, logins: list[str]) -> None:
    import aiohttp
    import socketio  # type: ignore[import-untyped]

    loop = asyncio.get_running_loop()
    clients: list[_ListClient] = []
    http = aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=60)
    )

    async def sign_in(login: str) -> str:
        async with http.post(
            f"{base}/api/v1/auth/login", json={"login": login, "password": PASSWORD}
        ) as response:
            response.raise_for_status()
            return str(response.cookies[SESSION_COOKIE].value)

    reloads = 0

    async def open_list(client: _ListClient) -> None:
        nonlocal reloads
        headers = {"Cookie": f"{SESSION_COOKIE}={client.cookie}"}
        for attempt in range(RELOADS + 1):
            async with http.get(f"{base}/", headers=headers) as response:
                # A page not built within NiceGUI's response_timeout answers 500: a person
                # would reload it, and so do we (counted).
                if response.status >= 500 and attempt < RELOADS:
                    reloads += 1
                    await asyncio.sleep(1)
                    continue
                response.raise_for_status()
                html = await response.text()
                break
        found = QUERY_RE.search(html)
        if found is None:
            raise RuntimeError("no NiceGUI client id in the page")
        client.client_id, client.next_id = found[1], int(found[2])
        client.sio = socketio.AsyncClient(reconnection=False)
        client.sio.on("update", client.on_update)
        query = {
            "client_id": client.client_id,
            "next_message_id": client.next_id,
            "implicit_handshake": "true",
            "tab_id": str(uuid.uuid4()),
            "document_id": str(uuid.uuid4()),
        }
        await client.sio.connect(
            f"{base}/?{urlencode(query)}",
            headers=headers,
            transports=["websocket"],
            socketio_path="/_nicegui_ws/socket.io",
            wait_timeout=60,
        )

    async def acknowledge() -> None:
        while True:  # as NiceGUI's script does every 3 s: the server may drop what was seen
            await asyncio.sleep(3)
            for client in clients:
                if client.sio is not None and client.sio.connected:
                    with suppress(Exception):
                        await client.sio.emit(
                            "ack",
                            {"client_id": client.client_id, "next_message_id": client.next_id},
                        )

    async def connect_up_to(n: int) -> tuple[int, str]:
        started = time.monotonic()
        todo = []
        for login in logins[len(clients) : n]:
            todo.append(_ListClient(await sign_in(login)))
            if len(todo) % 50 == 0:
                print(f"    {len(todo)} of {n - len(clients)} signed in", flush=True)
        gate = asyncio.Semaphore(2)  # a page at a time per core, as people open them
        errors: list[str] = []

        async def one(client: _ListClient) -> None:
            async with gate:
                try:
                    await open_list(client)
                    clients.append(client)
                except Exception as error:
                    errors.append(f"{type(error).__name__}: {error}")
            if clients and len(clients) % 25 == 0:
                print(f"    {len(clients)} of {n} live lists open", flush=True)

        await asyncio.gather(*(one(c) for c in todo))
        took = time.monotonic() - started
        note = f" ({took:.1f} s; {reloads} page loads answered 5xx and were reloaded)"
        return len(clients), (f": {errors[0]}" if errors else "") + note

    acker = asyncio.create_task(acknowledge())
    try:
        while True:
            command = await loop.run_in_executor(None, pipe.recv)
            if command[0] == "connect":
                pipe.send(await connect_up_to(int(command[1])))
            elif command[0] == "arrivals":
                case_id = int(command[1])
                pipe.send([c.cards.get(case_id) for c in clients])
            else:
                break
    finally:
        acker.cancel()
        for client in clients:
            if client.sio is not None:
                with suppress(Exception):
                    await client.sio.disconnect()
        await http.close()
        pipe.send("stopped")


class Swarm:
    """Live-list clients in a process of their own (the benchmark's clock is the same)."""

    def __init__(self, base: str, logins: list[str]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        self._proc: BaseProcess = ctx.Process(
            target=_swarm, args=(os.getpid(), child, base, logins), daemon=True
        )
        self._proc.start()
        self.connected = 0

    def _ask(self, command: tuple[object, ...], timeout_s: float) -> Any:
        self._pipe.send(command)
        if not self._pipe.poll(timeout_s):
            raise TooSlow(f"the live-list clients did not answer {command[0]!r} in {timeout_s:g} s")
        return self._pipe.recv()

    def connect(self, n: int, timeout_s: float) -> str:
        """Up to ``n`` clients signed in with their list open; how it went."""
        connected, note = self._ask(("connect", n), timeout_s)
        self.connected = int(connected)
        if self.connected < n:
            raise TooSlow(
                f"the machine could not take {n} live lists: {self.connected} connected{note}"
            )
        return str(note)

    def arrivals(self, case_id: int) -> list[float | None]:
        """When each client first got the case's card (wall clock; None: not yet)."""
        result: list[float | None] = self._ask(("arrivals", case_id), 30)
        return result

    def stop(self) -> None:
        """Disconnect every client and end the process."""
        with suppress(Exception):
            if self._proc.is_alive():
                self._ask(("stop",), 30)
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


# Push probes ----------------------------------------------------------------------------------
@dataclass
class Probe:
    """One breach: publish → each client (s), → all, and the browser's card."""

    per_client: list[float]
    all_s: float
    from_raise_s: float
    browser_s: float | None = None


class Publisher:
    """Publishes breaching readings to the cloud's broker at QoS 1."""

    def __init__(self, url: str) -> None:
        self._address = BrokerAddress.parse(url)
        self._client = new_client(f"desk-probe-{uuid.uuid4().hex[:6]}", self._address)
        connect(self._client, self._address, background=False)
        self._client.loop_start()
        self._topics = Topics("envgrid")

    def breach(self, site_id: str) -> float:
        """COD 45 mg/L (class III: 20) at the site's node, stamped now; when it was sent."""
        body = {"seq": 1, "ts": datetime.now(UTC).isoformat(), "values": {"cod": 45.0}}
        sent = time.time()
        check_publish(
            self._client.publish(self._topics.readings(f"node-{site_id}"), orjson.dumps(body), 1)
        )
        return sent

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def probe(
    db: psycopg.Connection[Any],
    publisher: Publisher,
    swarm: Swarm,
    site_id: str,
    timeout_s: float,
    browser_page: Any | None,
) -> Probe:
    """One breach at ``site_id``: wait for its case, then for every client to get its card."""
    sent = publisher.breach(site_id)
    deadline = time.monotonic() + timeout_s
    row = None
    while row is None:
        row = db.execute(
            "SELECT id, extract(epoch FROM raised_at) FROM cases WHERE site_id = %s", [site_id]
        ).fetchone()
        if row is None:
            if time.monotonic() > deadline:
                raise TooSlow(f"the breach at {site_id} raised no case within {timeout_s:g} s")
            time.sleep(0.01)
    case_id, raised = int(row[0]), float(row[1])
    while True:
        arrivals = swarm.arrivals(case_id)
        if all(a is not None for a in arrivals):
            break
        if time.monotonic() > deadline:
            got = sum(a is not None for a in arrivals)
            raise TooSlow(
                f"case {case_id} reached {got} of {len(arrivals)} live lists within "
                f"{timeout_s:g} s of its breach"
            )
        time.sleep(0.02)
    times = [float(a) - sent for a in arrivals if a is not None]
    result = Probe(times, max(times), max(times) + sent - raised)
    if browser_page is not None:
        left = max(deadline - time.monotonic(), 1.0) * 1000
        try:
            browser_page.wait_for_function(
                f"() => window.__egCards && window.__egCards['{case_id}'] > 0", timeout=left
            )
        except Exception as error:
            raise TooSlow(
                f"case {case_id} did not show in Chromium within {timeout_s:g} s"
            ) from error
        result.browser_s = (
            float(browser_page.evaluate(f"window.__egCards['{case_id}']")) / 1000 - sent
        )
    return result


def probe_many(
    db_url: str,
    publisher: Publisher,
    swarm: Swarm,
    sites: list[str],
    timeout_s: float,
    browser_page: Any | None,
) -> list[Probe]:
    """One probe per site, a second or so apart (each case's dispatch settles first)."""
    probes = []
    rng = random.Random(11)
    with psycopg.connect(db_url, autocommit=True) as db:
        for i, site in enumerate(sites):
            probes.append(probe(db, publisher, swarm, site, timeout_s, browser_page))
            p = probes[-1]
            browser = f", Chromium {p.browser_s * 1000:.0f} ms" if p.browser_s is not None else ""
            print(
                f"    probe {i + 1}/{len(sites)}: first {min(p.per_client) * 1000:.0f} ms,"
                f" all {len(p.per_client)} {p.all_s * 1000:.0f} ms{browser}",
                flush=True,
            )
            time.sleep(rng.uniform(0.8, 1.5))
    return probes


# Report ---------------------------------------------------------------------------------------
def _ms(value: float) -> str:
    return f"{value:,.0f}"


RENDER_ROWS = (
    ("list", "case list (first card)"),
    ("file", "case file (summary and chart)"),
    ("site", "site page (day chart)"),
    ("month", "site: tap month → month chart"),
    ("with_month", "site page with its month chart"),
)


def render_table(renders: Renders, big: str, small: str) -> list[str]:
    """Render times (ms from navigation start): cold, p50, p95, per server; the p50 ratio."""
    lines = [
        f"| page | {big}: cold | {big}: p50 / p95 | {small}: cold | {small}: p50 / p95"
        " | p50 ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in RENDER_ROWS:
        cells = []
        for server in (big, small):
            warm = renders.warm.get((server, key), [])
            cold = renders.cold.get((server, key))
            cells.append(_ms(cold) if cold is not None else "—")
            cells.append(f"{_ms(percentile(warm, 0.5))} / {_ms(percentile(warm, 0.95))}")
        big_p50 = percentile(renders.warm.get((big, key), []), 0.5)
        small_p50 = percentile(renders.warm.get((small, key), []), 0.5)
        ratio = f"{big_p50 / small_p50:.2f} ×" if small_p50 else "—"
        lines.append(f"| {label} | {' | '.join(cells)} | {ratio} |")
    return lines


def server_table(renders: Renders, big: str, small: str) -> list[str]:
    """Server time of the pages' document requests: p50 / p95 per page and server."""
    lines = [
        f"| document request | {big}: p50 / p95 ms | {small}: p50 / p95 ms |",
        "|---|---:|---:|",
    ]
    for key, label in (("list", "GET /"), ("file", "GET /cases/{id}"), ("site", "GET /sites/{id}")):
        cells = []
        for server in (big, small):
            times = renders.server.get((server, key), [])
            cells.append(f"{_ms(percentile(times, 0.5))} / {_ms(percentile(times, 0.95))}")
        lines.append(f"| {label} | {' | '.join(cells)} |")
    every = {
        s: [t for (n, _), ts in renders.server.items() if n == s for t in ts] for s in (big, small)
    }
    lines.append(
        f"| all ({len(every[big])} / {len(every[small])} requests) | "
        f"{_ms(percentile(every[big], 0.5))} / {_ms(percentile(every[big], 0.95))} | "
        f"{_ms(percentile(every[small], 0.5))} / {_ms(percentile(every[small], 0.95))} |"
    )
    return lines


def push_lines(baseline: list[Probe], many: list[Probe], clients: int) -> list[str]:
    """Push figures: the baseline client, all clients, each client, and Chromium."""

    def line(values: list[float]) -> str:
        p50, p95, p99 = (percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99))
        return (
            f"p50 {p50:,.0f} ms, p95 {p95:,.0f} ms, p99 {p99:,.0f} ms,"
            f" max {max(values) * 1000:,.0f} ms"
        )

    base = [p.all_s for p in baseline]
    alls = [p.all_s for p in many]
    each = [t for p in many for t in p.per_client]
    raised = [p.from_raise_s for p in many]
    browser = [p.browser_s for p in many if p.browser_s is not None]
    lines = [f"baseline, 1 live list, publish → its card: {line(base)} ({len(base)} probes)"]
    if not many:
        return [*lines, f"{clients} live lists: not measured"]
    lines += [
        f"{clients} live lists, publish → the last of them: {line(alls)} ({len(alls)} probes)",
        f"  each list's arrival (all probes × lists): {line(each)} ({len(each):,} arrivals)",
        f"  from the case's raise (raised_at) → the last list: {line(raised)}",
    ]
    if browser:
        lines.append(f"  Chromium on the list among them, publish → its card: {line(browser)}")
    if base and alls:
        ratio = percentile(alls, 0.99) / max(percentile(base, 0.99), 1e-9)
        lines.append(f"  p99 ratio to the baseline: {ratio:.1f} ×")
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.desk",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sites", type=int, default=100, help="sites, one node each (100)")
    parser.add_argument("--cases", type=int, default=10_000, help="cases (10,000)")
    parser.add_argument("--days", type=int, default=365, help="days of 5-minute readings (365)")
    parser.add_argument("--clients", type=int, default=200, help="live-list clients (200)")
    parser.add_argument("--loads", type=int, default=12, help="warm loads of each page (12)")
    parser.add_argument("--probes", type=int, default=20, help="breaches timed with all (20)")
    parser.add_argument(
        "--baseline-probes", type=int, default=10, help="breaches timed with one client (10)"
    )
    parser.add_argument("--timeout-s", type=float, default=30.0, help="longest wait (30 s)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 10 sites, 200 cases, 3 days, 5 clients, 3 loads, 3 probes",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sites, args.cases, args.days, args.clients = 10, 200, 3, 5
        args.loads, args.probes, args.baseline_probes = 3, 3, 2
    if args.sites < 5 or args.cases < 1 or args.days < 1 or args.clients < 1:
        parser.error("need at least 5 sites, 1 case, 1 day and 1 client")
    if args.loads < 1 or args.probes < 1 or args.baseline_probes < 1:
        parser.error("need at least 1 load and 1 probe of each kind")
    return args


@contextmanager
def chromium(timeout_s: float) -> Iterator[Any]:
    """Debian's Chromium, headless (never a browser Playwright downloads)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=timeout_s * 1000
        )
        try:
            yield browser
        finally:
            browser.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Seed both databases, serve them, time renders and pushes, print the figures."""
    exit_on_sigterm()
    args = parse_args(argv)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    big, small = "big", "small"
    renders = Renders()
    baseline: list[Probe] = []
    many: list[Probe] = []
    failure = ""
    n_probes = args.baseline_probes + args.probes
    with (
        tempfile.TemporaryDirectory(prefix="envgrid-desk-bench-") as tmp,
        bench_database("envgrid_bench_desk") as big_db,
        bench_database("envgrid_bench_desk_small") as small_db,
    ):
        print(
            f"seeding the big database: {args.sites} sites, {args.cases:,} cases,"
            f" {args.days} days of readings, {args.clients} live accounts",
            flush=True,
        )
        seeded = {big: seed(big_db, args.sites, args.cases, args.days, args.clients, n_probes, now)}
        print(f"  seeded in {seeded[big].seconds:.0f} s", flush=True)
        print(f"seeding the small database: {SMALL_CASES} cases, {SMALL_DAYS} days", flush=True)
        seeded[small] = seed(small_db, args.sites, SMALL_CASES, SMALL_DAYS, 0, 0, now)
        clouds: dict[str, Cloud] = {}
        slow_pages: dict[str, int] = {}
        memory: dict[str, tuple[float, float]] = {}  # the big cloud's, at each stage
        swarm: Swarm | None = None
        publisher: Publisher | None = None
        try:
            clouds[big] = Cloud(Path(tmp), big_db, big, api_only=False)
            clouds[small] = Cloud(Path(tmp), small_db, small, api_only=True)
            for cloud in clouds.values():
                cloud.wait_ready()
            with chromium(args.timeout_s) as browser:
                print("render: cold loads in fresh browser profiles", flush=True)
                renders = measure_renders(browser, clouds, seeded, args.loads, args.timeout_s)
                print("push: signing the live-list clients in", flush=True)
                broker = clouds[big].broker
                assert broker is not None  # the big cloud runs its ingest on its own broker
                publisher = Publisher(broker.url)
                swarm = Swarm(clouds[big].base, seeded[big].live_logins)
                note = swarm.connect(1, args.timeout_s * 4)
                print(f"  1 live list open{note}; baseline probes", flush=True)
                memory["1 live list"] = clouds[big].memory_mb()
                probe_sites = seeded[big].probes
                baseline = probe_many(
                    big_db, publisher, swarm, probe_sites[: args.baseline_probes],
                    args.timeout_s, None,
                )  # fmt: skip
                # Each sign-in is an Argon2id verify (~0.1 s) and each list a page render.
                connect_s = args.timeout_s * 4 + args.clients * 2.0
                note = swarm.connect(args.clients, connect_s)
                print(f"  {args.clients} live lists open{note}", flush=True)
                memory[f"{args.clients} lists open"] = clouds[big].memory_mb()
                watcher = Desk(browser, clouds[big], clouds[big].login(REVIEWER), args.timeout_s)
                try:
                    watcher.case_list()
                    many = probe_many(
                        big_db, publisher, swarm, probe_sites[args.baseline_probes :],
                        args.timeout_s, watcher.page,
                    )  # fmt: skip
                    memory["after the probes"] = clouds[big].memory_mb()
                finally:
                    watcher.close()
        except TooSlow as error:
            failure = str(error)
        finally:  # whatever went wrong, nothing we started may outlive us
            if swarm is not None:
                swarm.stop()
            if publisher is not None:
                publisher.close()
            for cloud in clouds.values():
                cloud.stop()
            slow_pages = {name: cloud.slow_pages() for name, cloud in clouds.items()}

    print()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    s = seeded[big]
    print(
        f"big database: {args.sites} sites, {s.cases:,} cases, {s.readings:,} readings"
        f" (seeded in {s.seconds:.0f} s); small: {seeded[small].cases} cases,"
        f" {seeded[small].readings:,} readings"
    )
    if renders.warm:
        print(
            f"render in Chromium {VIEWPORT['width']}×{VIEWPORT['height']}, ms from navigation"
            f" start; cold: a fresh profile, the first of its kind; p50 / p95 of {args.loads}"
            " warm loads"
        )
        print("\n".join(render_table(renders, big, small)))
        print()
        print("server time of the desk's data requests (the documents: requestStart →")
        print("responseStart, Resource Timing in Chromium; NiceGUI renders the data on the server)")
        print("\n".join(server_table(renders, big, small)))
    if baseline:
        print()
        print("\n".join(push_lines(baseline, many, args.clients)))
    if memory:
        print(
            "the big cloud's resident memory (MB, now / peak): "
            + "; ".join(
                f"{stage} {now:,.0f} / {peak:,.0f}" for stage, (now, peak) in memory.items()
            )
        )
    for name, count in slow_pages.items():
        if count:
            print(
                f"the {name} server answered {count} page requests 500: not built within"
                " NiceGUI's response_timeout (3 s)"
            )
    goals = []
    if renders.warm:
        for key, label in (("list", "case list"), ("file", "case file")):
            p95 = percentile(renders.warm.get((big, key), []), 0.95)
            goals.append(
                f"{label} p95 {p95:,.0f} ms < 1000 ms: {'met' if p95 < 1000 else 'NOT met'}"
            )
    if many:
        p99 = percentile([p.all_s for p in many], 0.99) * 1000
        verdict = "met" if p99 < 2000 else "NOT met"
        goals.append(f"push to {args.clients} p99 {p99:,.0f} ms < 2000 ms: {verdict}")
    if goals:
        print()
        print("goals: " + "; ".join(goals))
    if failure:
        print(f"\nthe machine did not take the load: {failure}")
        sys.exit(1)


if __name__ == "__main__":
    main()
