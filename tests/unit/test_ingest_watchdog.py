"""The ingest watchdog: a stall is messages held with no commit, whatever its cause."""

from __future__ import annotations

from envgrid_cloud.ingest.watchdog import HEALTHY, Progress, Watchdog

DOG = Watchdog(stall_s=30, stuck_exit_s=120)


def progress(**changes: object) -> Progress:
    base: dict[str, object] = {
        "now": 1000.0,
        "held": 500,
        "oldest_held": 990.0,
        "last_commit": 995.0,
        "write_started": None,
        "failing_since": None,
        "last_error": None,
    }
    base.update(changes)
    return Progress(**base)  # type: ignore[arg-type]


def test_an_idle_worker_is_healthy_however_long_since_its_last_commit() -> None:
    assert DOG.judge(progress(held=0, oldest_held=None, last_commit=0.0)) is HEALTHY


def test_a_message_after_a_long_quiet_is_timed_from_its_arrival() -> None:
    assert DOG.judge(progress(oldest_held=990.0, last_commit=10.0)) is HEALTHY


def test_a_slow_write_is_a_stall_once_it_runs_past_the_limit() -> None:
    verdict = DOG.judge(progress(oldest_held=960.0, last_commit=950.0, write_started=965.0))
    assert verdict.stalled
    assert not verdict.give_up
    assert verdict.reason == "a database write has been running for 35 s; 500 message(s) wait"


def test_a_write_stuck_for_long_gives_up_for_a_fresh_process() -> None:
    verdict = DOG.judge(progress(oldest_held=800.0, last_commit=790.0, write_started=870.0))
    assert verdict.stalled
    assert verdict.give_up


def test_failing_writes_are_a_stall_with_the_error_but_are_retried_not_abandoned() -> None:
    verdict = DOG.judge(
        progress(oldest_held=500.0, last_commit=400.0, failing_since=600.0, last_error="x: y")
    )
    assert verdict.stalled
    assert not verdict.give_up
    assert verdict.reason == "database writes failing for 400 s (x: y); 500 message(s) wait"


def test_no_progress_and_no_failure_is_a_stall_and_in_the_end_a_give_up() -> None:
    assert DOG.judge(progress(oldest_held=960.0, last_commit=None)).reason == (
        "nothing committed for 40 s; 500 message(s) wait"
    )
    assert DOG.judge(progress(oldest_held=860.0, last_commit=None)).give_up


def test_a_recent_commit_means_progress() -> None:
    assert DOG.judge(progress(oldest_held=100.0, last_commit=990.0)) is HEALTHY
