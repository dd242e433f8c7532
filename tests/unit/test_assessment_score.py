"""The assessment's score, ranking and months: pure functions, figures by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from envgrid_cloud.assessment.month import Month
from envgrid_cloud.assessment.score import Figures, Weights, assess, formula, rates, score

NONE = Figures("t0", "零", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None)


def unit(ident: str, **counts: int) -> Figures:
    return replace(NONE, id=ident, name=ident, **counts)


def test_rates_divide_by_what_was_due_or_by_the_cases() -> None:
    f = unit("a", cases=8, ack_due=5, ack_on_time=4, close_due=4, close_on_time=1, overdue=2,
             dismissed=1, self_found=2)  # fmt: skip
    r = rates(f)
    assert (r.ack_on_time, r.close_on_time, r.overdue, r.false_alarm, r.self_found) == (
        0.8,
        0.25,
        0.25,
        0.125,
        0.25,
    )
    # 40 × 0.8 + 40 × 0.25 + 20 × 0.25 − 20 × 0.25 − 10 × 0.125 = 32 + 10 − 1.25 = 40.75
    assert score(f, Weights()) == 40.75


def test_nothing_to_judge_earns_nothing_and_no_case_means_no_score() -> None:
    pending = unit("p", cases=3, open=3)
    assert rates(pending).ack_on_time is None
    assert score(pending, Weights()) == 0.0
    assert str(score(pending, Weights())) == "0.0"  # never "-0.0"
    assert score(NONE, Weights()) is None
    assert rates(NONE).overdue is None


def test_scores_are_rounded_to_two_decimals() -> None:
    thirds = unit("t", cases=3, ack_due=3, ack_on_time=1)
    assert score(thirds, Weights()) == 13.33
    assert score(unit("f", cases=3, dismissed=2), Weights()) == -6.67


def test_best_first_equal_scores_share_a_rank_units_without_cases_last() -> None:
    good = unit("b-good", cases=2, ack_due=2, ack_on_time=2)  # 40
    tie_b = unit("d-tie", cases=1, close_due=1, close_on_time=1)  # 40
    tie_a = unit("c-tie", cases=4, ack_due=4, ack_on_time=4)  # 40
    worse = unit("a-worse", cases=1, dismissed=1)  # −10
    empty = unit("0-empty")
    ranked = assess([worse, empty, tie_b, good, tie_a], Weights())
    assert [(a.figures.id, a.score, a.rank) for a in ranked] == [
        ("b-good", 40.0, 1),
        ("c-tie", 40.0, 1),
        ("d-tie", 40.0, 1),
        ("a-worse", -10.0, 4),
        ("0-empty", None, None),
    ]
    assert [a.rank for a in assess([good, worse], Weights(), ranked=False)] == [None, None]


def test_the_weights_decide_the_order() -> None:
    careful = unit("careful", cases=10, ack_due=10, ack_on_time=10, close_due=10, close_on_time=10)
    finder = unit("finder", cases=10, ack_due=10, ack_on_time=5, self_found=10)
    assert [a.figures.id for a in assess([careful, finder], Weights())] == ["careful", "finder"]
    found_only = Weights(0, 0, 100, 0, 0)
    assert [a.figures.id for a in assess([careful, finder], found_only)] == ["finder", "careful"]


def test_weights_are_bounded_and_the_formula_shows_them() -> None:
    with pytest.raises(ValueError, match="overdue"):
        Weights(overdue=-1)
    with pytest.raises(ValueError, match="self_found"):
        Weights(self_found=1000.5)
    assert formula(Weights()) == (
        "得分 = 40×按时签收率 + 40×按时办结率 + 20×主动发现占比 − 20×超期率 − 10×误报率"
    )
    assert formula(Weights(12.5, 0, 1, 2, 3)).startswith("得分 = 12.5×按时签收率 + 0×")


def test_months_are_shanghai_calendar_months() -> None:
    may = Month.parse("2026-05")
    assert (str(may), may.label_zh) == ("2026-05", "2026年5月")
    assert may.start.astimezone(UTC) == datetime(2026, 4, 30, 16, tzinfo=UTC)
    assert may.end.astimezone(UTC) == datetime(2026, 5, 31, 16, tzinfo=UTC)
    assert Month.parse("2026-12").end.isoformat() == "2027-01-01T00:00:00+08:00"
    # 31 May 16:30 UTC is already 1 June in Shanghai.
    assert Month.containing(datetime(2026, 5, 31, 16, 30, tzinfo=UTC)) == Month(2026, 6)
    for bad in ("2026-13", "2026-5", "26-05", "0000-01", "2026-05-01"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Month.parse(bad)
