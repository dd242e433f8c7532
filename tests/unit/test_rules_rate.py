"""Rate-of-change rules: a change within the window, by direction, against a brute force."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envgrid_cloud.cases.model import Severity
from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.evaluate import evaluate
from envgrid_cloud.rules.model import RateOfChangeRule
from tests.unit.test_rules_support import at, kinds, restart, run, sample

JUMP = RateOfChangeRule(
    id="nh3n_jump",
    severity=Severity.MEDIUM,
    title="氨氮突变",
    metric="nh3n",
    max_change=0.5,
    per_s=3600,
    direction="rise",
)


@pytest.mark.parametrize(
    ("direction", "values", "expected"),
    [
        ("rise", [0.4, 0.6, 1.0], [None, None, "breach"]),  # +0.6 within the hour
        ("rise", [0.4, 0.9], [None, None]),  # +0.5 exactly is allowed
        ("rise", [1.5, 0.4], [None, None]),  # a fall is not a rise
        ("fall", [1.5, 0.4], [None, "breach"]),
        ("fall", [0.4, 1.5], [None, None]),
        ("both", [0.4, 1.5, 0.2], [None, "breach", "breach"]),
    ],
)
def test_a_change_beyond_max_change_within_the_window_breaches(
    direction: str, values: list[float], expected: list[str | None]
) -> None:
    rule = JUMP.model_copy(update={"direction": direction})
    _, findings = run(rule, [sample(i * 10, nh3n=v) for i, v in enumerate(values)])
    assert kinds(findings) == expected


def test_the_breach_names_the_change_and_where_it_came_from() -> None:
    _, findings = run(JUMP, [sample(0, nh3n=0.6), sample(10, nh3n=0.3), sample(20, nh3n=1.0)])
    breach = findings[-1]
    assert breach is not None
    assert breach.detail["change"] == pytest.approx(0.7)  # against the lowest in the window
    assert breach.detail["from_value"] == 0.3
    assert breach.detail["from_at"] == at(10).isoformat()
    assert breach.detail["direction"] == "rise"


def test_a_gap_longer_than_the_window_is_no_rate_of_change() -> None:
    _, findings = run(JUMP, [sample(0, nh3n=0.2), sample(61, nh3n=2.0)])
    assert findings == [None, None]


def test_repeats_while_the_low_is_in_the_window_then_one_clear() -> None:
    samples = [sample(0, nh3n=0.2), sample(10, nh3n=1.0), sample(40, nh3n=1.0)]
    samples += [sample(65, nh3n=1.0), sample(70, nh3n=1.0)]  # the 0.2 has left the window
    _, findings = run(JUMP, samples)
    assert kinds(findings) == [None, "breach", "breach", "clear", None]


@pytest.mark.parametrize("flag", ["F", "M", "D", "C", "B", "T"])
def test_flagged_values_are_skipped(flag: str) -> None:
    samples = [sample(0, nh3n=0.2, flags={"nh3n": flag}), sample(10, nh3n=1.0)]
    _, findings = run(JUMP, samples)
    assert findings == [None, None]
    samples = [
        sample(0, nh3n=0.2),
        sample(10, nh3n=1.0),
        sample(20, nh3n=0.1, flags={"nh3n": flag}),
    ]
    state, findings = run(JUMP, samples)
    assert kinds(findings) == [None, "breach", None]
    assert state is not None
    assert state["in_breach"]


def test_late_samples_are_ignored() -> None:
    state, _ = run(JUMP, [sample(0, nh3n=0.5), sample(20, nh3n=0.6)])
    state, findings = run(JUMP, [sample(10, nh3n=0.0), sample(30, nh3n=0.9)], state)
    assert findings == [None, None]  # the late 0.0 is not the window's low


@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=40), st.floats(min_value=0, max_value=3)),
        max_size=30,
    )
)
def test_matches_a_brute_force_over_the_window(steps: list[tuple[int, float]]) -> None:
    rule = JUMP.model_copy(update={"direction": "both", "per_s": 1800.0})
    state = None
    seen: list[tuple[int, float]] = []
    minute = 0
    for gap, value in steps:
        minute += gap
        step = evaluate(rule, state, ReadingRecord("n", at(minute), minute, {"nh3n": value}))
        state = restart(step.state)
        window = [v for m, v in seen if minute - m <= 30]
        expected = any(abs(value - v) > 0.5 for v in window)
        assert (step.finding is not None and step.finding.kind == "breach") == expected
        seen.append((minute, value))
