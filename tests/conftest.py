"""Shared fixtures (a database and topic root per test, brokers of our own); the leftover check."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.topics import Topics
from tests.leftovers import mark_session, still_running

# The machine's own servers (CI starts them before the run); override to point elsewhere.
PG_ADMIN_URL = os.environ.get(
    "ENVGRID_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MQTT_URL = os.environ.get("ENVGRID_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
SHARED = Path(__file__).resolve().parents[2] / "shared"
# After the last test, how long processes get to finish ending before they count as left over.
LEFTOVER_GRACE_S = 5.0


def pytest_sessionstart(session: pytest.Session) -> None:
    """Mark this run: every process started from now on inherits the mark."""
    mark_session()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process the tests started is still alive (pytest itself aside)."""
    left = still_running(LEFTOVER_GRACE_S)
    if not left:
        return
    lines = [f"{len(left)} process(es) started by the tests outlived them:"]
    lines += [f"  pid {pid}: {command}" for pid, command in sorted(left.items())]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True)
        else:
            print(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _database_url(name: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def database_url() -> Iterator[str]:
    """An empty database of this test's own, dropped afterwards."""
    name = f"envgrid_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _database_url(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """This test's database with envgrid's schema applied."""
    from envgrid_cloud.db.migrate import migrate

    migrate(database_url)
    return database_url


@pytest.fixture
def topic_root() -> str:
    """A topic root of this test's own, so tests sharing a broker never see each other."""
    return f"t-{uuid.uuid4().hex[:12]}/envgrid"


@pytest.fixture
def topics(topic_root: str) -> Topics:
    """The topic grammar under this test's root."""
    return Topics(topic_root)


@pytest.fixture
def mqtt_url() -> str:
    """The machine's Mosquitto (stock configuration)."""
    return MQTT_URL


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A Mosquitto of this test's own, configured as shipped, free to kill and restart."""
    broker = MosquittoBroker(tmp_path / "mosquitto").start()
    try:
        yield broker
    finally:
        broker.kill()
