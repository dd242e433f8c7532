"""Daily-mean rules: Asia/Shanghai days, judged when complete, by the next day or a timer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from envgrid_cloud.cases.model import Severity
from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.daily_mean import close_day, day_end, local_day
from envgrid_cloud.rules.model import DailyMeanRule
from envgrid_common.clock import SHANGHAI
from tests.unit.test_rules_support import kinds, restart, run

COD = DailyMeanRule(
    id="cod_daily",
    severity=Severity.HIGH,
    title="化学需氧量日均值超标",
    metric="cod",
    above=400,
    min_samples=12,
)


def hourly(
    day: date, values: list[float], flags: dict[str, str] | None = None
) -> list[ReadingRecord]:
    """One sample an hour from local midnight of ``day``."""
    start = datetime.combine(day, datetime.min.time(), SHANGHAI)
    return [
        ReadingRecord(
            "farm-01-effluent",
            start + timedelta(hours=h),
            int(start.timestamp()) + h,
            {"cod": v},
            flags or {},
        )
        for h, v in enumerate(values)
    ]


MAY1, MAY2, MAY3 = date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)


def test_days_are_asia_shanghai_calendar_days() -> None:
    assert local_day(datetime(2026, 5, 1, 15, 59, tzinfo=UTC)) == MAY1  # 23:59 in Shanghai
    assert local_day(datetime(2026, 5, 1, 16, 0, tzinfo=UTC)) == MAY2  # 00:00 in Shanghai
    assert day_end(MAY1) == datetime(2026, 5, 1, 16, 0, tzinfo=UTC)


def test_a_day_is_judged_when_a_sample_of_a_later_day_arrives() -> None:
    day = hourly(MAY1, [380.0] * 12 + [460.0] * 12)  # mean 420
    state, findings = run(COD, day)
    assert set(kinds(findings)) == {None}  # a day in progress is never judged
    _, findings = run(COD, hourly(MAY2, [100.0]), state)
    breach = findings[0]
    assert breach is not None
    assert breach.kind == "breach"
    assert breach.at == day_end(MAY1)
    assert breach.value == pytest.approx(420.0)
    assert breach.detail == {
        "day": "2026-05-01",
        "mean": pytest.approx(420.0),
        "samples": 24,
        "max": 460.0,
        "limit": 400,
        "direction": "above",
    }


def test_a_utc_midnight_is_not_a_day_boundary() -> None:
    start = datetime(2026, 5, 1, 0, 0, tzinfo=SHANGHAI)
    samples = [ReadingRecord("n", start + timedelta(hours=h), h, {"cod": 500.0}) for h in range(24)]
    _, findings = run(COD, samples)  # crosses 00:00 UTC (08:00 in Shanghai) at h = 8
    assert set(kinds(findings)) == {None}


def test_each_day_over_the_limit_breaches_and_the_first_day_within_clears() -> None:
    samples = hourly(MAY1, [500.0] * 24) + hourly(MAY2, [450.0] * 24)
    samples += hourly(MAY3, [100.0] * 24) + hourly(date(2026, 5, 4), [100.0] * 24)
    samples += hourly(date(2026, 5, 5), [100.0])
    _, findings = run(COD, samples)
    assert [f.kind for f in findings if f] == ["breach", "breach", "clear"]
    assert [f.at for f in findings if f] == [day_end(MAY1), day_end(MAY2), day_end(MAY3)]


def test_a_day_with_too_few_samples_is_not_judged() -> None:
    state, _ = run(COD, hourly(MAY1, [900.0] * 11))
    _, findings = run(COD, hourly(MAY2, [100.0]), state)
    assert findings == [None]


@pytest.mark.parametrize("flag", ["F", "M", "D", "C", "B", "T"])
def test_flagged_values_are_left_out_of_the_mean(flag: str) -> None:
    day = hourly(MAY1, [300.0] * 20) + hourly(MAY1, [0.0] * 20 + [9000.0] * 4, {"cod": flag})[20:]
    state, _ = run(COD, day)
    _, findings = run(COD, hourly(MAY2, [100.0]), state)
    assert findings == [None]  # mean of the 20 valid values: 300


def test_close_day_judges_a_silent_node_after_midnight_and_late_samples_are_ignored() -> None:
    state, _ = run(COD, hourly(MAY1, [500.0] * 20))
    assert close_day(COD, state, day_end(MAY1) - timedelta(seconds=1)).finding is None
    step = close_day(COD, restart(state), day_end(MAY1) + timedelta(minutes=5))
    assert step.finding is not None
    assert step.finding.kind == "breach"
    assert step.finding.at == day_end(MAY1)
    state = restart(step.state)
    assert close_day(COD, state, day_end(MAY2)).finding is None  # nothing open to judge
    late = hourly(MAY1, [0.0] * 24)[23]  # 23:00 on the judged day, delivered late
    state, findings = run(COD, [late], state)
    assert findings == [None]
    _, findings = run(COD, hourly(MAY2, [100.0] * 12) + hourly(MAY3, [100.0]), state)
    assert kinds(findings)[-1] == "clear"


def test_samples_of_the_open_day_count_in_any_order() -> None:
    # Several ingest workers may commit one node's readings out of order: the mean is the same.
    day = hourly(MAY1, [400.0 + 10 * (h % 5) for h in range(24)])
    state, _ = run(COD, day[13:])
    state, _ = run(COD, day[:13], state)
    _, findings = run(COD, hourly(MAY2, [100.0]), state)
    assert len(findings) == 1
    assert findings[0] is not None
    assert findings[0].detail["samples"] == 24
    assert findings[0].value == pytest.approx(sum(400.0 + 10 * (h % 5) for h in range(24)) / 24)


def test_a_sample_of_a_day_already_left_behind_is_ignored() -> None:
    state, _ = run(COD, hourly(MAY2, [500.0] * 3))
    later, findings = run(COD, hourly(MAY1, [900.0]), state)
    assert findings == [None]
    assert later == state
