"""Every rule type through the ingest's own transaction, on real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from envgrid_cloud.ingest.store import BatchStore
from envgrid_cloud.observations import NO_FLAGS, DetectionRecord, ReadingRecord, StatusRecord
from envgrid_cloud.rules.day_close_sweep import DayCloseSweep
from envgrid_cloud.rules.engine import RuleEngine
from envgrid_cloud.rules.nodata_sweep import NoDataSweep
from envgrid_cloud.settings import CloudSettings
from envgrid_common.messages import DetectionKind, DetectionPhase, NodeState
from envgrid_common.topics import Topics
from tests.integration.test_cases_support import seed_farmland_camera, seed_grid
from tests.integration.test_ingest_support import ingest_settings, publisher, running
from tests.polling import wait_until

# 2026-05-01 10:00 in Shanghai: the farm's daily-mean day starts at 16:00 UTC the day before.
T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
RIVER, FARM = "river1-s1", "farm1-s1"  # a class III river section; a pig farm's effluent


@pytest.fixture
def db(migrated_url: str) -> str:
    """The case tests' grid, plus a road node and a camera on farmland."""
    seed_grid(migrated_url)
    seed_farmland_camera(migrated_url)
    with psycopg.connect(migrated_url) as conn:
        conn.execute("INSERT INTO nodes (id, site_id, kind) VALUES ('road2-s1', 'road2', 'sensor')")
        # Nodes reporting hourly, as analysers do: the tests' sparse readings are no silence.
        conn.execute("UPDATE nodes SET report_interval_s = 3600")
    return migrated_url


@pytest.fixture
def store(db: str) -> Iterator[BatchStore]:
    """A batch store judging with the rules, as an ingest worker's."""
    s = BatchStore(db, judge=RuleEngine())
    yield s
    s.close()


def reading(
    node: str,
    seq: int,
    at: datetime,
    flags: dict[str, str] | None = None,
    historical: bool = False,
    **values: float,
) -> ReadingRecord:
    """One reading record as the decoder makes it."""
    return ReadingRecord(node, at, seq, values, flags or NO_FLAGS, historical)


def detection(node: str, seq: int, at: datetime, phase: str, confidence: float) -> DetectionRecord:
    """One camera detection record as the decoder makes it."""
    kind, stage = DetectionKind.SMOKE, DetectionPhase(phase)
    return DetectionRecord(node, at, seq, "ev1", kind, stage, confidence)


def status(node: str, state: str, at: datetime) -> StatusRecord:
    """One status record as the decoder makes it."""
    return StatusRecord(node, NodeState(state), at)


FARM_DAY = datetime(2026, 4, 30, 16, 0, tzinfo=UTC)  # 2026-05-01 00:00 in Shanghai


def farm_hours(hours: int) -> list[ReadingRecord]:
    """The farm's first ``hours`` hourly readings of ``FARM_DAY``: COD 440, 450, 460 in turn."""
    return [
        reading(FARM, h + 1, FARM_DAY + timedelta(hours=h), cod=440.0 + 10 * (h % 3))
        for h in range(hours)
    ]


def write(
    store: BatchStore,
    readings: Sequence[ReadingRecord] = (),
    statuses: Sequence[StatusRecord] = (),
    detections: Sequence[DetectionRecord] = (),
) -> None:
    """One batch, committed."""
    store.write(readings, statuses, [], detections)


def cases(url: str, **where: str) -> list[dict[str, Any]]:
    """Cases, oldest first, filtered by equal columns."""
    clause = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in where
    )
    query = sql.SQL("SELECT * FROM cases WHERE {} ORDER BY id").format(clause)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, where).fetchall()


def one_case(url: str, site_id: str, rule_id: str) -> dict[str, Any]:
    """The only case of a site and rule."""
    found = cases(url, site_id=site_id, rule_id=rule_id)
    assert len(found) == 1, found
    return found[0]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_a_threshold_opens_one_case_repeats_update_it_and_the_clearing_is_recorded(
    db: str, store: BatchStore
) -> None:
    write(store, [reading(RIVER, 1, T0, cod=25.0)])
    case = one_case(db, "river1", "cod")
    assert case["state"] == "dispatched", "dispatched at once to the cell's officer"
    assert case["assignee_id"] == "v1-officer"
    assert (case["occurrences"], case["last_value"], case["peak_value"]) == (1, 25.0, 25.0)
    assert case["detail"]["basis"].startswith("GB 3838-2002")

    write(store, [reading(RIVER, 2, T0 + minutes(60), cod=31.0)])
    write(store, [reading(RIVER, 3, T0 + minutes(120), cod=22.0)])
    case = one_case(db, "river1", "cod")
    assert (case["occurrences"], case["last_value"], case["peak_value"]) == (3, 22.0, 31.0)
    assert case["cleared_at"] is None

    write(store, [reading(RIVER, 4, T0 + minutes(180), cod=12.0)])
    case = one_case(db, "river1", "cod")
    assert case["cleared_at"] is not None, "the condition clearing is recorded"
    assert case["state"] == "dispatched", "but only a person closes a case"


def test_a_storm_of_breaches_in_one_batch_counts_each_of_them(db: str, store: BatchStore) -> None:
    # One case write for the whole batch, with every breach counted and the worst kept.
    values = [21.0 + (i * 7) % 50 for i in range(50)]
    rows = [reading(RIVER, i + 1, T0 + minutes(i), cod=v) for i, v in enumerate(values)]
    rows.insert(25, reading(RIVER, 100, T0 + minutes(24.5), flags={"cod": "D"}, cod=99.0))
    write(store, rows)
    case = one_case(db, "river1", "cod")
    assert case["occurrences"] == 50
    assert (case["first_value"], case["last_value"]) == (values[0], values[-1])
    assert case["peak_value"] == max(values)
    assert (case["first_seen_at"], case["last_seen_at"]) == (T0, T0 + minutes(49))
    with psycopg.connect(db) as conn:
        raised = conn.execute(
            "SELECT count(*) FROM case_events WHERE case_id = %s AND action = 'raised'",
            [case["id"]],
        ).fetchone()
    assert raised == (1,)


def test_values_flagged_invalid_never_count(db: str, store: BatchStore) -> None:
    rows = [
        reading(RIVER, seq, T0 + minutes(seq), flags={"cod": flag}, cod=60.0)
        for seq, flag in enumerate("FMDCBT", start=1)
    ]
    write(store, rows)
    assert cases(db, site_id="river1") == []
    write(store, [reading(RIVER, 10, T0 + minutes(10), flags={"cod": "N"}, cod=60.0)])
    assert one_case(db, "river1", "cod")["occurrences"] == 1


def test_a_reading_delivered_twice_is_judged_once(db: str, store: BatchStore) -> None:
    row = reading(RIVER, 1, T0, cod=25.0)
    write(store, [row])
    write(store, [row])
    write(store, [row, reading(RIVER, 2, T0 + minutes(60), cod=26.0)])
    assert one_case(db, "river1", "cod")["occurrences"] == 2


def test_a_held_threshold_survives_a_restart_in_the_middle_of_its_duration(db: str) -> None:
    first = BatchStore(db, judge=RuleEngine())
    write(first, [reading(RIVER, 1, T0, do=3.0)])  # DO below class III's 5, held 10 min
    first.close()
    second = BatchStore(db, judge=RuleEngine())  # a restarted worker: nothing in memory
    try:
        write(second, [reading(RIVER, 2, T0 + minutes(5), do=3.2)])
        assert cases(db, site_id="river1") == [], "held 5 of 10 minutes"
        write(second, [reading(RIVER, 3, T0 + minutes(11), do=3.1)])
    finally:
        second.close()
    case = one_case(db, "river1", "do")
    assert case["first_seen_at"] == T0 + minutes(11)
    assert case["detail"]["direction"] == "below"
    assert case["detail"]["held_s"] == 660


def test_a_sudden_rise_is_a_rate_of_change_case(db: str, store: BatchStore) -> None:
    write(store, [reading(RIVER, 1, T0, nh3n=0.2), reading(RIVER, 2, T0 + minutes(20), nh3n=0.5)])
    assert cases(db, site_id="river1") == []
    write(store, [reading(RIVER, 3, T0 + minutes(40), nh3n=0.8)])  # +0.6 within the hour
    assert one_case(db, "river1", "nh3n_jump")["last_value"] == 0.8


def test_a_stuck_analyser_is_told_from_one_repeating_its_cycle(db: str, store: BatchStore) -> None:
    # COD analysers give one result per hourly cycle, sent every 10 minutes: six equal values
    # in a row are normal. Six hours of one value are not.
    cycle = [reading(RIVER, i + 1, T0 + minutes(10 * i), cod=12.3) for i in range(6)]
    cycle += [reading(RIVER, i + 7, T0 + minutes(60 + 10 * i), cod=12.8) for i in range(6)]
    write(store, cycle)
    assert cases(db, site_id="river1") == []
    stuck = [reading(RIVER, 100 + i, T0 + minutes(120 + 10 * i), cod=13.1) for i in range(37)]
    write(store, stuck[:30])  # five hours
    assert cases(db, site_id="river1") == []
    write(store, stuck[30:])  # past six hours and six cycles
    assert one_case(db, "river1", "cod_stuck")["last_value"] == 13.1


def test_a_farm_is_judged_on_its_daily_mean_once_the_day_is_complete(
    db: str, store: BatchStore
) -> None:
    day = FARM_DAY
    hourly = farm_hours(24)
    write(store, hourly)
    assert cases(db, site_id="farm1") == [], "GB 18596 limits are daily means: not yet"
    write(store, [reading(FARM, 25, day + timedelta(hours=24, minutes=5), cod=300.0)])
    case = one_case(db, "farm1", "cod_daily")
    assert case["last_value"] == pytest.approx(450.0)


def test_a_silent_farms_day_is_judged_after_midnight_by_the_sweep(
    db: str, store: BatchStore
) -> None:
    day = FARM_DAY
    hourly = farm_hours(20)
    write(store, hourly)  # then the node falls silent
    sweep = DayCloseSweep()
    with psycopg.connect(db) as conn:
        assert sweep(conn, day + timedelta(hours=23, minutes=59)) == 0, "the day has not ended"
        assert cases(db, site_id="farm1") == []
        assert sweep(conn, day + timedelta(days=1, minutes=5)) == 1
        assert sweep(conn, day + timedelta(days=1, minutes=10)) == 0, "each day is judged once"
    case = one_case(db, "farm1", "cod_daily")
    assert case["detail"]["samples"] == 20
    assert case["last_value"] == pytest.approx(sum(440.0 + 10 * (h % 3) for h in range(20)) / 20)


def test_a_road_sections_aqi_held_over_100_is_a_case(db: str, store: BatchStore) -> None:
    write(store, [reading("road2-s1", 1, T0, pm25=160.0, pm10=120.0)])
    assert cases(db, site_id="road2") == []
    write(store, [reading("road2-s1", 2, T0 + minutes(31), pm25=170.0, pm10=130.0)])
    case = one_case(db, "road2", "aqi")
    assert case["last_value"] > 200  # PM2.5 170 µg/m³: IAQI 220 (HJ 633-2012)
    assert "pm25" in case["detail"]["primary"]


def test_smoke_on_farmland_opens_a_case_and_its_end_clears_it(db: str, store: BatchStore) -> None:
    write(store, detections=[detection("field1-cam", 1, T0, "new", 0.4)])
    assert cases(db, site_id="field1") == [], "below the pack's confidence"
    write(store, detections=[detection("field1-cam", 2, T0 + minutes(1), "update", 0.9)])
    case = one_case(db, "field1", "burning")
    assert case["severity"] == "critical"
    write(store, detections=[detection("field1-cam", 3, T0 + minutes(9), "end", 0.9)])
    assert one_case(db, "field1", "burning")["cleared_at"] is not None
    with psycopg.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM detections").fetchone()
    assert stored == (3,)


def test_an_offline_node_is_one_case_and_mutes_its_sensor_rules(db: str, store: BatchStore) -> None:
    write(store, [reading(RIVER, 1, T0, cod=10.0)])
    write(store, statuses=[status(RIVER, "offline", T0 + minutes(1))])
    write(store, statuses=[status(RIVER, "offline", T0 + minutes(1))])  # the retained copy again
    case = one_case(db, "river1", "offline")
    assert case["occurrences"] == 1
    # Backfill arriving while the node is still marked offline raises nothing of its own.
    write(store, [reading(RIVER, 2, T0 + minutes(2), historical=True, cod=35.0)])
    assert [c["rule_id"] for c in cases(db, site_id="river1")] == ["offline"]
    with psycopg.connect(db) as conn:
        assert NoDataSweep()(conn, T0 + timedelta(days=1)) == 0, "muted: no no-data case"
    write(store, statuses=[status(RIVER, "online", T0 + minutes(30))])
    assert one_case(db, "river1", "offline")["cleared_at"] is not None
    write(store, [reading(RIVER, 3, T0 + minutes(31), cod=35.0)])
    assert one_case(db, "river1", "cod")["occurrences"] == 1


def _every_minute(url: str, node_id: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE nodes SET report_interval_s = 60 WHERE id = %s", [node_id])


def test_no_data_is_judged_on_live_data_only(db: str, store: BatchStore) -> None:
    _every_minute(db, RIVER)
    now = datetime.now(UTC)
    write(store, [reading(RIVER, 1, now, cod=10.0)])  # stamps the node's last live reading
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT last_live_at FROM nodes WHERE id = %s", [RIVER]).fetchone()
        assert row is not None
        last_live: datetime = row[0]
        sweep = NoDataSweep()
        assert sweep(conn, last_live + minutes(2.9)) == 0, "3 × 60 s is the tolerance"
        assert sweep(conn, last_live + minutes(3.1)) == 1
        assert sweep(conn, last_live + minutes(4)) == 0, "one case for one silence"
    case = one_case(db, "river1", "no_data")
    assert case["first_seen_at"] == last_live + minutes(3)

    write(store, [reading(RIVER, 2, now + minutes(1), historical=True, cod=10.0)])
    assert one_case(db, "river1", "no_data")["cleared_at"] is None, "backfill clears nothing"
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT last_live_at FROM nodes WHERE id = %s", [RIVER]).fetchone()
    assert row == (last_live,), "backfill is not live data"

    write(store, [reading(RIVER, 3, now + minutes(5), cod=10.0)])
    assert one_case(db, "river1", "no_data")["cleared_at"] == now + minutes(5)


def test_a_silence_that_ended_before_any_sweep_looked_is_raised_and_cleared_by_the_ingest(
    db: str, store: BatchStore
) -> None:
    _every_minute(db, RIVER)
    t0 = datetime.now(UTC) - minutes(10)  # recent data: decisions dated by it, not the clock
    write(store, [reading(RIVER, 1, t0, cod=10.0), reading(RIVER, 2, t0 + minutes(1), cod=10.0)])
    write(store, [reading(RIVER, 3, t0 + minutes(9), cod=10.0)])  # 8 minutes of silence
    case = one_case(db, "river1", "no_data")
    # Dated as the sweep would have: overdue 3 × 60 s after the last reading, back at 9.
    assert (case["first_seen_at"], case["raised_at"]) == (t0 + minutes(4), t0 + minutes(4))
    assert case["cleared_at"] == t0 + minutes(9)
    write(store, [reading(RIVER, 4, t0 + minutes(10), cod=10.0)])
    assert len(cases(db, site_id="river1", rule_id="no_data")) == 1, "one silence, one case"
    with psycopg.connect(db) as conn:
        assert NoDataSweep()(conn, t0 + minutes(11)) == 0, "the sweep sees nothing more"


def test_two_workers_judging_one_node_agree(db: str) -> None:
    # A farm's day of readings split across two workers committing at the same time (as a
    # drained backlog is): the day's mean counts every reading exactly once. Unserialised (rule
    # states are locked per key; readings also lock their node's latest values first), one
    # worker's sums would overwrite the other's.
    day = datetime(2026, 4, 30, 16, 0, tzinfo=UTC)
    rows = [
        reading(FARM, i + 1, day + minutes(5 * i), cod=390.0 + (i % 5) * 10) for i in range(288)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(part: list[ReadingRecord]) -> None:
        store = BatchStore(db, judge=RuleEngine())
        try:
            start.wait()
            for row in part:
                write(store, [row])
        except BaseException as error:
            errors.append(error)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(rows[k::2],)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = BatchStore(db, judge=RuleEngine())
    try:
        write(store, [reading(FARM, 1000, day + timedelta(days=1, minutes=1), cod=100.0)])
    finally:
        store.close()
    case = one_case(db, "farm1", "cod_daily")  # a mean of 410 mg/L
    assert case["detail"]["samples"] == 288
    assert case["last_value"] == pytest.approx(sum(390.0 + (i % 5) * 10 for i in range(288)) / 288)


def test_an_ingest_worker_turns_a_published_breach_into_a_case(
    db: str, mqtt_url: str, topics: Topics
) -> None:
    settings: CloudSettings = ingest_settings(db, mqtt_url, topics)
    body = {"seq": 1, "ts": datetime.now(UTC).isoformat(), "values": {"cod": 28.0}}
    with running(settings), publisher(mqtt_url) as pub:
        pub.publish(topics.readings(RIVER), orjson.dumps(body))
        pub.flush()
        wait_until(lambda: bool(cases(db, site_id="river1")), 10, "the case")
    assert one_case(db, "river1", "cod")["last_value"] == 28.0
