"""On the feed's clock every decision path takes its time from the feed, none from the wall.

The feed here is in May 2020 while the database and the wall are years later: a time taken
from the wall anywhere (Python or SQL ``now()``) would show as a date after the test began.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from envgrid_cloud.cases.pool import SyncPool, open_sync_pool
from envgrid_cloud.cases.sweeps import ESCALATION, Sweep
from envgrid_cloud.feed_sweeper import FeedSweeper
from envgrid_cloud.ingest.store import BatchStore
from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.registry.store import upsert_registry
from envgrid_cloud.rules.engine import RuleEngine
from envgrid_cloud.rules.nodata_sweep import NoDataSweep
from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import FeedClock
from envgrid_sim.scenarios.luxi import luxi_scenario

START = datetime(2020, 5, 1, tzinfo=UTC)
RIVER, NODE = "luxi-river-01", "luxi-river-01-wq"


def _ns(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000_000


@pytest.fixture
def pool(migrated_url: str) -> Iterator[SyncPool]:
    with psycopg.connect(migrated_url) as conn:
        upsert_registry(conn, luxi_scenario().registry)
    pool = open_sync_pool(migrated_url)
    try:
        yield pool
    finally:
        pool.close()


def _case(url: str, rule_id: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM cases WHERE site_id = %s AND rule_id = %s", [RIVER, rule_id]
        ).fetchone()
    assert row is not None, f"no {rule_id} case"
    return row


def test_readings_sweeps_and_escalation_decide_on_the_feed_clock(
    migrated_url: str, pool: SyncPool
) -> None:
    began = datetime.now(UTC)
    clock = FeedClock(_ns(START))
    store = BatchStore(migrated_url, judge=RuleEngine(clock=clock), clock=clock)
    try:
        # A breach: the case is raised at the feed's time, and the node was live then.
        store.write([ReadingRecord(NODE, START, 1, {"codmn": 30.0})], [], [])
    finally:
        store.close()
    breach = _case(migrated_url, "codmn")
    assert breach["raised_at"] == START
    assert breach["ack_due_at"] == START + timedelta(hours=2)  # high: two hours to acknowledge
    with psycopg.connect(migrated_url) as conn:
        live = conn.execute("SELECT last_live_at FROM nodes WHERE id = %s", [NODE]).fetchone()
    assert live is not None
    assert live[0] == START

    # The sweeps at feed times: no data once an interval has passed, escalation past the
    # acknowledge deadline; each at the time the feed's clock says.
    sweeps = [ESCALATION, Sweep("no-data rule", 30.0, NoDataSweep())]
    settings = CloudSettings(database_url=migrated_url)
    sweeper = FeedSweeper(settings, sweeps, pool)
    sweeper.sweep_to(_ns(START))
    silent_at = START + timedelta(minutes=1)
    sweeper.sweep_to(_ns(silent_at))
    nodata = _case(migrated_url, "no_data")
    # Dated when the node became overdue (3 × 5 s after the last), not when a sweep noticed.
    assert nodata["raised_at"] == nodata["first_seen_at"] == START + timedelta(seconds=15)
    late = START + timedelta(hours=2, seconds=30)
    sweeper.sweep_to(_ns(late))
    assert sweeper.done_ns == _ns(late)
    with psycopg.connect(migrated_url) as conn:
        escalated = conn.execute(
            "SELECT e.at FROM case_events e JOIN cases c ON c.id = e.case_id "
            "WHERE c.rule_id = 'codmn' AND e.action IN ('escalated', 'overdue')"
        ).fetchall()
    assert escalated
    assert {row[0] for row in escalated} == {START + timedelta(hours=2)}  # the deadline missed
    # Nothing about these cases was dated by the wall.
    for rule_id in ("codmn", "no_data"):
        case = _case(migrated_url, rule_id)
        for column in ("raised_at", "updated_at", "first_seen_at", "ack_due_at"):
            assert case[column] < began, (rule_id, column, case[column])
