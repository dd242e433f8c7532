"""The desk under test: ``envgrid cloud`` as a process with the luxi township loaded, people who
can sign in, and Debian's Chromium driven headless by Playwright."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import orjson
import psycopg
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)

from bench.desk import CHROMIUM, CHROMIUM_ARGS
from envgrid_cli.services.ports import free_port
from envgrid_common.clock import SHANGHAI
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from envgrid_common.topics import Topics
from tests.e2e.support import clean_env, start, stop, wait_for
from tests.polling import wait_until

PASSWORD = "desk-test-password-1"
OFFICER = "luxi-fenglin-officer"  # 枫林村: the river section luxi-river-02 is theirs
OTHER_OFFICER = "luxi-hetang-officer"  # 荷塘村: must not see 枫林村's cases
REVIEWER = "luxi-reviewer"  # 芦溪镇: closes cases
DUTY_GROUP = "芦溪镇值班群"
RIVER_SITE, RIVER_NODE = "luxi-river-02", "luxi-river-02-wq"
PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
ARTIFACTS = Path(
    os.environ.get("ENVGRID_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)


@dataclass(frozen=True)
class DeskServer:
    """A running cloud with the desk; where to reach it and its database and topics."""

    base: str
    database_url: str
    topics: Topics
    mqtt_url: str
    log: Path

    def publish_reading(self, node_id: str, values: dict[str, float], seq: int) -> None:
        """A node's reading, as the township gateway forwards it to the cloud."""
        address = BrokerAddress.parse(self.mqtt_url)
        client = new_client(f"desk-test-{uuid.uuid4().hex[:6]}", address)
        connect(client, address)
        client.loop_start()
        try:
            wait_until(client.is_connected, 10, "the broker to accept the test's publisher")
            ts = datetime.now(SHANGHAI).replace(microsecond=0).isoformat()
            body = orjson.dumps({"seq": seq, "ts": ts, "values": values})
            client.publish(self.topics.readings(node_id), body, qos=1).wait_for_publish(10)
        finally:
            client.disconnect()
            client.loop_stop()

    def scalar(self, sql: str, *params: object) -> object:
        """One value from the database."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
        return row[0] if row else None


def _set_passwords(database_url: str) -> None:
    from envgrid_cloud.auth.accounts import connect as connect_accounts
    from envgrid_cloud.auth.accounts import set_password

    with connect_accounts(database_url) as conn:
        for login in (OFFICER, OTHER_OFFICER, REVIEWER):
            set_password(conn, login, PASSWORD)


@pytest.fixture
def desk_server(
    tmp_path: Path, migrated_url: str, mqtt_url: str, topic_root: str
) -> Iterator[DeskServer]:
    """``envgrid cloud`` serving the desk for the luxi township."""
    import subprocess
    import sys

    run = uuid.uuid4().hex[:8]
    port = free_port()
    env = clean_env(
        ENVGRID_TOPIC_ROOT=topic_root,
        ENVGRID_DATABASE_URL=migrated_url,
        ENVGRID_MQTT_URL=mqtt_url,
        ENVGRID_API_PORT=str(port),
        ENVGRID_INGEST_CLIENT_ID=f"desk-{run}",
        ENVGRID_INGEST_SHARE_GROUP=f"desk-{run}",
        ENVGRID_LOG_LEVEL="INFO",
        # A robot that cannot be reached shows as failing after its first failed message.
        ENVGRID_NOTIFY_FAILING_AFTER="1",
        ENVGRID_NOTIFY_POLL_S="0.2",
        ENVGRID_DESK_URL=f"http://127.0.0.1:{port}",
    )
    loaded = subprocess.run(
        [sys.executable, "-m", "envgrid_cli", "scenario", "load", "luxi"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert loaded.returncode == 0, loaded.stderr
    _set_passwords(migrated_url)
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        # The township's duty group, on a WeCom robot nobody answers for (port 9: discard).
        conn.execute(
            "INSERT INTO notify_channels (name, kind, target, cell_id) VALUES (%s, %s, %s, %s)",
            (DUTY_GROUP, "wecom", "http://127.0.0.1:9/cgi-bin/webhook/send?key=test", "luxi"),
        )
    log = tmp_path / "cloud.log"
    process = start(["cloud"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        wait_for("the desk", lambda: httpx.get(f"{base}/login").status_code == 200, 60, (log,))
        yield DeskServer(base, migrated_url, Topics(topic_root), mqtt_url, log)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver for the module's tests."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless (never a browser Playwright downloads)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium package")
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class Visitor:
    """A browser profile on the desk, and what it tried to load from elsewhere (must be none)."""

    context: BrowserContext
    page: Page
    foreign_requests: list[str]


def new_visitor(
    browser: Browser, base: str, viewport: ViewportSize, locale: str = "zh-CN"
) -> Visitor:
    """A fresh browser profile at ``base``; requests to any other host are refused and noted."""
    context = browser.new_context(viewport=viewport, locale=locale, base_url=base)
    if locale == "en":
        host = base.split("//", 1)[1].split(":", 1)[0]
        context.add_cookies([{"name": "envgrid_lang", "value": "en", "domain": host, "path": "/"}])
    foreign: list[str] = []

    def guard(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        if request.url.startswith(base) or request.url.startswith(("data:", "blob:")):
            route.continue_()  # type: ignore[attr-defined]
        else:
            foreign.append(request.url)
            route.abort()  # type: ignore[attr-defined]

    context.route("**/*", guard)
    return Visitor(context, context.new_page(), foreign)


def sign_in(page: Page, login: str, then: str = "/") -> None:
    """Sign in through the desk's own form."""
    page.goto(f"/login?next={then}")
    page.get_by_test_id("login-name").fill(login)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"**{then}")


def shoot(page: Page, name: str) -> Path:
    """Keep a screenshot of the whole page as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.wait_for_timeout(300)  # let charts finish drawing
    page.screenshot(path=str(path), full_page=True)
    return path


def photo(path: Path) -> Path:
    """A phone-sized JPEG (4000 × 3000) to upload as evidence."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8)
    cv2.rectangle(image, (800, 600), (3200, 2400), (30, 120, 30), -1)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def report_case(base: str, login: str, site_id: str, title: str, severity: str) -> int:
    """A problem found on the spot, reported through the API by ``login``; the case's id."""
    import httpx

    with httpx.Client(base_url=base, timeout=10) as client:
        signed = client.post("/api/v1/auth/login", json={"login": login, "password": PASSWORD})
        signed.raise_for_status()
        made = client.post(
            "/api/v1/cases",
            json={"site_id": site_id, "title": title, "severity": severity},
            headers={"X-CSRF-Token": client.cookies["envgrid_csrf"]},
        )
        made.raise_for_status()
        return int(made.json()["id"])
