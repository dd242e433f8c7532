"""The batch SQL alone: one transaction of readings, statuses and dead letters."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from envgrid_cloud.ingest.store import BatchStore
from envgrid_cloud.observations import NO_FLAGS, ReadingRecord, StatusRecord
from envgrid_common.messages import NodeState
from tests.integration.test_ingest_support import NODES, count, rows, seed_nodes

T0 = datetime(2026, 5, 1, tzinfo=UTC)
METRICS = ("cod", "nh3n", "tp", "ph")


def test_latest_values_match_the_newest_reading_per_metric_in_a_shuffled_batch(
    migrated_url: str,
) -> None:
    rng = random.Random(5)
    batch: list[ReadingRecord] = []
    expected: dict[tuple[str, str], tuple[int, float, str | None]] = {}
    for node in NODES:
        for seq in range(300):
            # Readings carry different subsets of metrics; ts ties are broken by seq.
            names = rng.sample(METRICS, rng.randint(1, len(METRICS)))
            vals = {m: float(seq * 10 + i) for i, m in enumerate(names)}
            flags = {names[0]: "T"} if seq % 7 == 0 else None
            ts = T0 + timedelta(seconds=seq // 2)
            batch.append(ReadingRecord(node, ts, seq, vals, flags or NO_FLAGS))
            for m, v in vals.items():
                expected[(node, m)] = (seq, v, (flags or {}).get(m))
    rng.shuffle(batch)
    store = BatchStore(migrated_url)
    try:
        written = store.write(batch[:500], [], [])
        assert (written.stored, written.duplicates) == (500, 0)
        written = store.write(batch, [], [])  # the first 500 again: duplicates
        assert (written.stored, written.duplicates) == (len(batch) - 500, 500)
    finally:
        store.close()
    latest = rows(migrated_url, "SELECT node_id, metric, seq, value, flag FROM latest_values")
    assert {(n, m): (s, v, f) for n, m, s, v, f in latest} == expected
    assert count(migrated_url, "readings") == len(batch)


def test_a_failing_batch_changes_nothing(migrated_url: str) -> None:
    seed_nodes(migrated_url)
    store = BatchStore(migrated_url)
    good = ReadingRecord(NODES[0], T0, 1, {"cod": 1.0})
    bad = ReadingRecord(NODES[0], T0, 2, {"cod": math.nan})  # validation never lets one by
    try:
        with pytest.raises(Exception, match="json"):
            store.write([good, bad], [StatusRecord(NODES[0], NodeState.ONLINE, T0)], [])
        written = store.write([good], [], [])  # the connection is still usable
    finally:
        store.close()
    assert written.stored == 1
    assert count(migrated_url, "readings") == 1
    assert rows(migrated_url, "SELECT status FROM nodes WHERE id = %s", NODES[0]) == [("unknown",)]
