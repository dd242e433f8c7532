"""``envgrid replay --what-if``: a stricter limit for one river section, tried on a feed."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest

from envgrid_cloud.registry.store import upsert_registry
from envgrid_common.topics import Topics
from envgrid_sim.feeds.writer import FeedWriter
from envgrid_sim.scenarios.luxi import luxi_scenario
from tests.conftest import PG_ADMIN_URL
from tests.e2e.support import clean_env

SITE, NODE = "luxi-river-01", "luxi-river-01-wq"
START = datetime(2026, 5, 1, 8, tzinfo=UTC)


def _feed(path: Path, root: str) -> Path:
    """Twenty seconds of a river section at CODMn 5 (class III allows 6), then a garbage one."""
    topics = Topics(root)
    writer = FeedWriter(path, {})
    for seq in range(20):
        at = START + timedelta(seconds=seq)
        reading = {"seq": seq + 1, "ts": at.isoformat(), "values": {"codmn": 5.0}}
        at_ns = int(at.timestamp()) * 1_000_000_000
        writer.add(at_ns, topics.readings(NODE).encode(), 1, False, b"", orjson.dumps(reading))
    writer.add(at_ns + 1, topics.readings(NODE).encode(), 1, False, b"", b"\x00garbage")
    writer.close()
    return path


def _scratch_databases() -> set[str]:
    with psycopg.connect(PG_ADMIN_URL) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'envgrid_whatif_%'"
        ).fetchall()
    return {row[0] for row in rows}


@pytest.mark.timeout(300)
def test_a_stricter_limit_would_have_raised_a_case(
    tmp_path: Path, migrated_url: str, mqtt_url: str
) -> None:
    with psycopg.connect(migrated_url) as conn:
        upsert_registry(conn, luxi_scenario().registry)
    feed = _feed(tmp_path / "river.egfeed", "recorded")
    before = _scratch_databases()
    env = clean_env(ENVGRID_DATABASE_URL=migrated_url, ENVGRID_MQTT_URL=mqtt_url)
    command = [sys.executable, "-m", "envgrid_cli", "replay", str(feed), "--what-if"]
    command += ["--site", SITE, "--override", "codmn.above=4", "--feed-root", "recorded"]
    command += ["--tick-s", "1"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"{SITE} codmn: would be raised" in out, out
    assert "20×" in out, out  # every reading of the feed over the stricter limit
    assert "without:" not in out.split("would be raised")[1].split("\n")[1], out
    # The scratch databases are gone; the live one was only read.
    assert _scratch_databases() == before
    with psycopg.connect(migrated_url) as conn:
        assert conn.execute("SELECT count(*) FROM cases").fetchone() == (0,)
        overrides = conn.execute("SELECT rule_overrides FROM sites WHERE id = %s", [SITE])
        assert overrides.fetchone() == ({},)


def test_an_override_the_pack_refuses_is_reported(
    tmp_path: Path, migrated_url: str, mqtt_url: str
) -> None:
    with psycopg.connect(migrated_url) as conn:
        upsert_registry(conn, luxi_scenario().registry)
    feed = _feed(tmp_path / "river.egfeed", "recorded")
    env = clean_env(ENVGRID_DATABASE_URL=migrated_url, ENVGRID_MQTT_URL=mqtt_url)
    command = [sys.executable, "-m", "envgrid_cli", "replay", str(feed), "--what-if"]
    command += ["--site", SITE, "--override", "no_such_rule.above=4"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no_such_rule" in done.stderr
