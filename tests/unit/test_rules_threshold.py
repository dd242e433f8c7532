"""Threshold rules: limits, flags, holds across restarts, repeats and the one clear, late data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envgrid_cloud.cases.model import Severity
from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.evaluate import evaluate
from envgrid_cloud.rules.model import ThresholdRule
from tests.unit.test_rules_support import at, kinds, restart, run, sample

COD = ThresholdRule(
    id="cod", severity=Severity.HIGH, title="化学需氧量超标", metric="cod", above=20
)
PH = ThresholdRule(
    id="ph", severity=Severity.MEDIUM, title="pH值超标", metric="ph", below=6, above=9
)
DO = ThresholdRule(id="do", severity=Severity.HIGH, title="溶解氧偏低", metric="do", below=5)
HELD = COD.model_copy(update={"hold_s": 1800.0})


@pytest.mark.parametrize(
    ("rule", "value", "direction"),
    [
        (COD, 19.9, None),
        (COD, 20.0, None),  # the limit itself is allowed (≤ 20)
        (COD, 20.1, "above"),
        (PH, 5.9, "below"),
        (PH, 6.0, None),
        (PH, 7.5, None),
        (PH, 9.0, None),
        (PH, 9.01, "above"),
        (DO, 5.0, None),
        (DO, 4.99, "below"),
    ],
)
def test_a_valid_value_beyond_a_limit_breaches_at_once(
    rule: ThresholdRule, value: float, direction: str | None
) -> None:
    step = evaluate(rule, None, ReadingRecord("node-1", at(0), 0, {rule.metric: value}))
    if direction is None:
        assert step.finding is None
    else:
        assert step.finding is not None
        assert step.finding.kind == "breach"
        assert step.finding.at == at(0)
        assert (step.finding.metric, step.finding.value) == (rule.metric, value)
        assert step.finding.detail["direction"] == direction
        assert step.finding.detail["limit"] == getattr(rule, direction)


@pytest.mark.parametrize("flag", ["F", "M", "D", "C", "B", "T"])
def test_flagged_values_neither_breach_nor_clear(flag: str) -> None:
    state, findings = run(COD, [sample(0, cod=99.0, flags={"cod": flag})])
    assert findings == [None]
    assert state is None  # skipped entirely: nothing remembered

    state, findings = run(COD, [sample(0, cod=99.0), sample(5, cod=1.0, flags={"cod": flag})])
    assert kinds(findings) == ["breach", None]
    _, findings = run(COD, [sample(10, cod=1.0)], state)
    assert kinds(findings) == ["clear"]  # the flagged normal value did not clear it


@pytest.mark.parametrize("flag", ["N", "S"])
def test_normal_and_manual_values_count(flag: str) -> None:
    _, findings = run(COD, [sample(0, cod=99.0, flags={"cod": flag})])
    assert kinds(findings) == ["breach"]


def test_a_flag_on_another_metric_does_not_matter() -> None:
    _, findings = run(COD, [sample(0, cod=99.0, nh3n=1.0, flags={"nh3n": "D"})])
    assert kinds(findings) == ["breach"]


def test_a_sample_without_the_metric_is_ignored() -> None:
    state, findings = run(COD, [sample(0, cod=99.0), sample(5, nh3n=50.0), sample(10, tp=0.1)])
    assert kinds(findings) == ["breach", None, None]
    assert state is not None
    assert state["in_breach"]


def test_historical_samples_are_judged_like_live_ones() -> None:
    _, findings = run(
        COD, [sample(0, cod=99.0, historical=True), sample(5, cod=1, historical=True)]
    )
    assert kinds(findings) == ["breach", "clear"]


def test_repeats_breach_each_time_and_the_clear_comes_once() -> None:
    values = [10, 25, 30, 22, 10, 11, 12, 40, 5]
    _, findings = run(COD, [sample(i * 5, cod=v) for i, v in enumerate(values)])
    assert kinds(findings) == [
        None,
        "breach",
        "breach",
        "breach",
        "clear",
        None,
        None,
        "breach",
        "clear",
    ]
    clear = findings[4]
    assert clear is not None
    assert clear.detail["since"] == at(5).isoformat()
    assert clear.detail["lasted_s"] == 15 * 60


def test_a_hold_fires_once_held_and_survives_a_restart_mid_duration() -> None:
    # Every 5 minutes above the limit; the state goes through JSON after every sample.
    state, findings = run(HELD, [sample(m, cod=25.0) for m in range(0, 30, 5)])
    assert findings == [None] * 6
    assert state is not None
    state, findings = run(HELD, [sample(30, cod=26.0), sample(35, cod=27.0)], restart(state))
    assert kinds(findings) == ["breach", "breach"]
    first = findings[0]
    assert first is not None
    assert first.at == at(30)
    assert first.detail["held_s"] == 1800
    assert first.detail["since"] == at(0).isoformat()


def test_a_valid_sample_within_limits_restarts_the_hold() -> None:
    minutes = [0, 20, 25, 30, 50, 55]
    values = [25, 25, 10, 25, 25, 25]
    _, findings = run(HELD, [sample(m, cod=v) for m, v in zip(minutes, values, strict=True)])
    assert findings == [None] * 6  # the run starting at 30 has only lasted 25 minutes
    _, findings = run(HELD, [sample(m, cod=v) for m, v in [(0, 25), (25, 10), (30, 25), (60, 25)]])
    assert kinds(findings) == [None, None, None, "breach"]


def test_a_gap_in_the_data_neither_ends_nor_pauses_a_hold() -> None:
    # Two hours without data (or with only flagged data) between two breaching samples: every
    # valid sample of the run breached, so the hold counts from the first one.
    _, findings = run(HELD, [sample(0, cod=25.0), sample(120, cod=25.0)])
    assert kinds(findings) == [None, "breach"]
    flagged = [sample(m, cod=5.0, flags={"cod": "M"}) for m in range(5, 120, 5)]
    _, findings = run(HELD, [sample(0, cod=25.0), *flagged, sample(120, cod=25.0)])
    assert kinds(findings)[-1] == "breach"
    assert set(kinds(findings)[:-1]) == {None}


def test_a_clear_ends_a_held_breach_once() -> None:
    samples = [sample(m, cod=25.0) for m in range(0, 40, 10)] + [
        sample(40, cod=5),
        sample(50, cod=5),
    ]
    _, findings = run(HELD, samples)
    assert kinds(findings) == [None, None, None, "breach", "clear", None]


def test_late_samples_are_ignored_by_a_held_rule() -> None:
    state, _ = run(HELD, [sample(0, cod=25.0), sample(10, cod=25.0)])
    late = sample(5, cod=5.0)  # a within-limits value from before: must not restart the hold
    state, findings = run(HELD, [late, sample(30, cod=25.0)], state)
    assert kinds(findings) == [None, "breach"]
    again, findings = run(HELD, [sample(30, cod=25.0)], state)  # the same reading redelivered
    assert findings == [None]
    assert again == state


def test_late_samples_still_breach_a_rule_without_hold_but_never_clear_it() -> None:
    state, findings = run(COD, [sample(0, cod=10.0), sample(10, cod=10.0)])
    assert findings == [None, None]
    state, findings = run(COD, [sample(5, cod=30.0)], state)  # late and over the limit
    assert kinds(findings) == ["breach"]
    finding = findings[0]
    assert finding is not None
    assert finding.at == at(5)
    assert finding.detail["late"] is True
    state, findings = run(COD, [sample(7, cod=10.0)], state)  # late and within: no clear
    assert findings == [None]
    _, findings = run(COD, [sample(15, cod=10.0)], state)  # the next fresh one clears
    assert kinds(findings) == ["clear"]


readings = st.lists(
    st.tuples(
        st.floats(min_value=-10, max_value=60, allow_nan=False),
        st.sampled_from(["N", "S", "F", "M", "D", "C", "B", "T", None]),
        st.booleans(),  # whether the sample carries cod at all
    ),
    max_size=40,
)


@given(readings)
def test_without_hold_breach_iff_a_valid_value_beyond_the_limit(
    items: list[tuple[float, str | None, bool]],
) -> None:
    state = None
    in_breach = False
    for i, (value, flag, present) in enumerate(items):
        values = {"cod": value} if present else {"tp": 0.1}
        flags = {"cod": flag} if present and flag else {}
        step = evaluate(COD, state, ReadingRecord("n", at(i), i, values, flags))
        state = restart(step.state)
        valid = present and flag in ("N", "S", None)
        beyond = valid and value > 20
        assert (step.finding is not None and step.finding.kind == "breach") == beyond
        clears = valid and not beyond and in_breach
        assert (step.finding is not None and step.finding.kind == "clear") == clears
        if valid:
            in_breach = beyond
