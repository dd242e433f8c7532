"""Stuck-value rules (恒值): analyser cycles, sample counts, tolerance, flags, restarts."""

from __future__ import annotations

import pytest

from envgrid_cloud.cases.model import Severity
from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.model import StuckRule
from tests.unit.test_rules_support import at, kinds, run, sample

# The water-body pack's COD rule: the same value for six hours and six hourly cycles.
STUCK = StuckRule(
    id="cod_stuck",
    severity=Severity.MEDIUM,
    title="化学需氧量数据恒值",
    metric="cod",
    window_s=21600,
    tolerance=0,
    min_samples=6,
    sample_cycle_s=3600,
    min_cycles=6,
)


def _every(minutes: int, until: int, value: float = 18.4, start: int = 0) -> list[ReadingRecord]:
    """The same value every ``minutes`` from ``start`` to ``until`` (inclusive)."""
    return [sample(m, cod=value) for m in range(start, until + 1, minutes)]


def test_an_analyser_repeating_its_result_for_a_cycle_is_not_stuck() -> None:
    # Readings every 10 minutes; the analyser's result changes each hour, as it should.
    samples = [sample(m, cod=18.0 + (m // 60) * 0.1) for m in range(0, 8 * 60, 10)]
    _, findings = run(STUCK, samples)
    assert set(kinds(findings)) == {None}


def test_the_same_value_for_the_whole_span_is_stuck() -> None:
    _, findings = run(STUCK, _every(10, 6 * 60))
    assert set(kinds(findings[:-1])) == {None}
    last = findings[-1]
    assert last is not None
    assert last.kind == "breach"
    assert last.at == at(360)
    assert last.detail["held_s"] == 21600
    assert last.detail["samples"] == 37
    assert last.detail["since"] == at(0).isoformat()


@pytest.mark.parametrize(
    ("window_s", "cycle_s", "min_cycles", "breach_at_min"),
    [
        (3600, 0, 3, 60),  # a continuous sensor: the window alone
        (3600, 3600, 3, 180),  # three one-hour cycles outlast the one-hour window
        (3600, 7200, 3, 360),  # two-hour cycles
        (14400, 3600, 2, 240),  # the window outlasts two cycles
    ],
)
def test_the_span_is_the_window_and_at_least_min_cycles_cycles(
    window_s: float, cycle_s: float, min_cycles: int, breach_at_min: int
) -> None:
    rule = STUCK.model_copy(
        update={"window_s": window_s, "sample_cycle_s": cycle_s, "min_cycles": min_cycles}
    )
    _, findings = run(rule, _every(10, 8 * 60))
    first = next(f for f in findings if f is not None)
    assert first.at == at(breach_at_min)
    assert rule.span_s == breach_at_min * 60


def test_too_few_samples_are_not_stuck() -> None:
    # Hourly readings: seven over six hours are enough for six, not for ten.
    _, findings = run(STUCK, _every(60, 6 * 60))
    assert kinds(findings)[-1] == "breach"
    rule = STUCK.model_copy(update={"min_samples": 10})
    _, findings = run(rule, _every(60, 8 * 60))
    assert kinds(findings) == [None] * 9
    _, findings = run(rule, _every(60, 9 * 60))
    assert kinds(findings)[-1] == "breach"


def test_values_within_the_tolerance_are_stuck_and_a_move_clears_once() -> None:
    rule = STUCK.model_copy(update={"tolerance": 0.2, "window_s": 3600.0, "min_cycles": 1})
    wobble = [sample(m, cod=18.0 + (0.1 if m % 20 else 0.0)) for m in range(0, 70, 10)]
    state, findings = run(rule, wobble)
    assert kinds(findings)[-1] == "breach"
    state, findings = run(rule, [sample(80, cod=25.0), sample(90, cod=31.0)], state)
    assert kinds(findings) == ["clear", None]
    clear = findings[0]
    assert clear is not None
    assert clear.detail["since"] == at(0).isoformat()
    assert (clear.detail["stuck_low"], clear.detail["stuck_high"]) == (18.0, 18.1)


def test_it_keeps_breaching_while_stuck() -> None:
    _, findings = run(STUCK, _every(30, 8 * 60))
    assert kinds(findings).count("breach") == 5  # at 6:00, 6:30, 7:00, 7:30 and 8:00


@pytest.mark.parametrize("flag", ["F", "M", "D", "C", "B", "T"])
def test_flagged_values_neither_extend_nor_break_a_run(flag: str) -> None:
    samples = _every(30, 5 * 60)
    samples += [sample(310, cod=99.0, flags={"cod": flag})]  # would break it, were it valid
    samples += _every(30, 6 * 60, start=330)
    _, findings = run(STUCK, samples)
    assert kinds(findings)[-1] == "breach"
    flagged_only = [sample(m, cod=18.4, flags={"cod": flag}) for m in range(0, 7 * 60, 10)]
    state, findings = run(STUCK, flagged_only)
    assert state is None
    assert set(kinds(findings)) == {None}


def test_late_samples_are_ignored() -> None:
    state, _ = run(STUCK, _every(60, 3 * 60))
    state, findings = run(STUCK, [sample(90, cod=50.0)], state)  # late: must not break the run
    assert findings == [None]
    _, findings = run(STUCK, _every(60, 6 * 60, start=240), state)
    assert kinds(findings)[-1] == "breach"
