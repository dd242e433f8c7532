"""Decisions are dated by the data: the same instants however batches and sweeps fell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from envgrid_cloud.cases.model import Breach, Severity
from envgrid_cloud.cases.sweeps import until_next
from envgrid_cloud.decision_time import GRACE, decided_at
from envgrid_cloud.ingest.store import last_heard
from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.engine import _runs

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def test_a_decision_is_dated_by_its_data_within_the_grace_and_by_the_clock_beyond() -> None:
    assert decided_at(T0, T0 + timedelta(seconds=3)) == T0  # the batch came 3 s later
    assert decided_at(T0, T0 - timedelta(seconds=3)) == T0  # the node's clock runs 3 s fast
    assert decided_at(T0, T0 + GRACE) == T0
    late = T0 + GRACE + timedelta(microseconds=1)
    assert decided_at(T0, late) == late  # a backlog: dated when the cloud learnt of it
    early = T0 - GRACE - timedelta(seconds=1)
    assert decided_at(T0, early) == early  # a clock far ahead does not date it in the future


def test_a_node_is_last_heard_at_its_latest_live_reading_not_when_the_batch_ran() -> None:
    now = T0 + timedelta(seconds=2)
    readings = [
        ReadingRecord("a", T0 + timedelta(seconds=1), 2, {"cod": 1.0}),
        ReadingRecord("a", T0, 1, {"cod": 1.0}),
        ReadingRecord("a", T0 + timedelta(seconds=9), 3, {"cod": 1.0}, historical=True),
        ReadingRecord("b", T0 - timedelta(hours=1), 7, {"cod": 1.0}),  # live, but far off
        ReadingRecord("c", T0, 1, {"cod": 1.0}, historical=True),
    ]
    assert last_heard(readings, now) == {"a": T0 + timedelta(seconds=1), "b": now}


@given(st.floats(min_value=0, max_value=4e9), st.sampled_from([0.5, 30.0, 300.0, 3600.0]))
def test_sweeps_fall_on_multiples_of_their_interval(now_s: float, interval_s: float) -> None:
    wait = until_next(interval_s, now_s)
    assert 0 < wait <= interval_s
    at = now_s + wait
    assert abs(at / interval_s - round(at / interval_s)) < 1e-6


def _breach(second: int, severity: Severity) -> Breach:
    at = T0 + timedelta(seconds=second)
    return Breach("s", "cod", severity, "COD", at, "n", "cod", float(second))


def test_a_rise_in_severity_starts_its_own_run_so_its_deadlines_run_from_its_first_breach() -> None:
    runs = list(
        _runs(
            [
                _breach(1, Severity.MEDIUM),
                _breach(2, Severity.MEDIUM),
                _breach(3, Severity.HIGH),
                _breach(4, Severity.HIGH),
            ]
        )
    )
    assert [(r.severity, r.first_at, r.at, r.occurrences) for r in runs] == [  # type: ignore[union-attr]
        (Severity.MEDIUM, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2), 2),
        (Severity.HIGH, T0 + timedelta(seconds=3), T0 + timedelta(seconds=4), 2),
    ]
