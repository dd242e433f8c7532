"""Offline and no-data rules: status changes, the sweeper's overdue test, the live clear."""

from __future__ import annotations

from datetime import timedelta

import pytest

from envgrid_cloud.cases.model import Severity
from envgrid_cloud.observations import StatusChange
from envgrid_cloud.rules.model import NoDataRule, OfflineRule
from envgrid_cloud.rules.nodata import evaluate, overdue, sweep
from envgrid_cloud.rules.status import on_status
from envgrid_common.messages import NodeState
from tests.unit.test_rules_support import T0, at, kinds, restart, run, sample

OFFLINE = OfflineRule(id="offline", severity=Severity.MEDIUM, title="监测设备离线")
NO_DATA = NoDataRule(id="no_data", severity=Severity.MEDIUM, title="监测数据缺失", tolerance=3)


def change(minutes: float, state: str) -> StatusChange:
    """Node-1's status at ``minutes`` after T0."""
    return StatusChange("node-1", NodeState(state), at(minutes))


def test_offline_breaches_online_clears_and_repeats_raise_nothing() -> None:
    states = ["online", "offline", "offline", "online", "online", "offline"]
    _, findings = run(OFFLINE, [change(i, s) for i, s in enumerate(states)])
    assert kinds(findings) == [None, "breach", None, "clear", None, "breach"]
    breach = findings[1]
    assert breach is not None
    assert breach.at == at(1)


def test_a_stale_status_is_ignored() -> None:
    state, _ = run(OFFLINE, [change(10, "offline")])
    step = on_status(OFFLINE, state, change(5, "online"))
    assert step.finding is None
    assert step.state == state


@pytest.mark.parametrize(
    ("silent_s", "offline", "last_live", "expected"),
    [
        (179, False, True, False),
        (180, False, True, False),  # exactly tolerance × interval is still on time
        (181, False, True, True),
        (3600, True, True, False),  # offline: muted, its offline case stands for it
        (3600, False, False, False),  # never reported: not judged
    ],
)
def test_overdue(silent_s: float, offline: bool, last_live: bool, expected: bool) -> None:
    now = T0 + timedelta(seconds=silent_s)
    assert overdue(now, T0 if last_live else None, 60, 3, offline) is expected


def test_the_sweeper_breaches_once_dated_when_overdue_and_clears_when_data_resumed() -> None:
    state = None
    found = []
    for minutes, last_live in [(2, 0), (4, 0), (6, 0), (8, 5.5), (10, 9)]:
        step = sweep(
            NO_DATA,
            state,
            now=at(minutes),
            last_live_at=at(last_live),
            report_interval_s=60,
            node_offline=False,
        )
        state = restart(step.state)
        found.append(step.finding)
    assert kinds(found) == [None, "breach", None, "clear", None]
    breach, clear = found[1], found[3]
    assert breach is not None
    assert breach.at == at(3)
    assert breach.detail["last_live_at"] == at(0).isoformat()
    assert clear is not None
    assert clear.at == at(5.5)


def test_the_sweeper_leaves_an_offline_node_alone() -> None:
    step = sweep(
        NO_DATA, None, now=at(60), last_live_at=at(0), report_interval_s=60, node_offline=True
    )
    assert step.finding is None
    assert step.state is None


def test_a_live_sample_clears_no_data_and_a_historical_one_does_not() -> None:
    state = {"open": True}
    state_after, findings = run(NO_DATA, [sample(30, cod=1.0, historical=True)], state)
    assert findings == [None]
    assert state_after == state
    state_after, findings = run(NO_DATA, [sample(31, cod=1.0)], state)
    assert kinds(findings) == ["clear"]
    assert state_after == {"open": False, "last": at(31).isoformat()}
    _, findings = run(NO_DATA, [sample(32, cod=1.0)], state_after)
    assert findings == [None]


def _through(samples: list[float], interval_s: float = 60) -> list[tuple[str, float]]:
    """Node-1's live samples at these minutes, judged by the ingest: (kind, minutes) found."""
    state = None
    found: list[tuple[str, float]] = []
    for minutes in samples:
        step = evaluate(NO_DATA, state, sample(minutes, cod=1.0), interval_s)
        state = restart(step.state)
        found += [
            (f.kind, (f.at - T0).total_seconds() / 60) for f in (step.finding, step.also) if f
        ]
    return found


def test_a_silence_no_sweep_saw_is_raised_and_cleared_when_it_ends_as_the_sweep_dates_it() -> None:
    # Every minute, then nothing from 2 to 7: overdue at 5 (3 × 60 s after 2), back at 7.
    assert _through([0, 1, 2, 7, 8]) == [("breach", 5.0), ("clear", 7.0)]
    assert _through([0, 1, 2, 5]) == []  # exactly the tolerance: still on time
    assert _through([0, 2, 1, 3]) == []  # late and out of order, never a silence


def test_the_ingest_and_the_sweep_date_one_silence_alike_whichever_saw_it() -> None:
    step = sweep(
        NO_DATA, None, now=at(6), last_live_at=at(2), report_interval_s=60, node_offline=False
    )
    assert step.finding is not None
    swept = step.finding
    seen = _through([2, 7])
    assert seen[0] == ("breach", (swept.at - T0).total_seconds() / 60)
    # Raised by the sweep, the reading only clears it, at the same time.
    after = evaluate(NO_DATA, restart(step.state), sample(7, cod=1.0), 60)
    assert after.finding is not None
    assert after.also is None
    assert (after.finding.kind, after.finding.at) == ("clear", at(7))


def test_a_sweep_leaves_a_silence_the_ingest_saw_end() -> None:
    # The ingest judged a reading at 7 while the sweep read last_live_at = 2 before locking.
    state = restart(evaluate(NO_DATA, None, sample(7, cod=1.0), 60).state)
    step = sweep(
        NO_DATA, state, now=at(8), last_live_at=at(2), report_interval_s=60, node_offline=False
    )
    assert step.finding is None
