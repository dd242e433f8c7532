"""Throttling failed logins: per account and per address, until the window lets one go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from envgrid_cloud.auth.throttle import Limits, keys, retry_after

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
LIMITS = Limits(per_login=5, per_address=20, window_s=900)


def test_an_attempt_counts_against_its_account_and_its_address() -> None:
    assert keys(" Wang.Wei ", "10.0.0.7") == ["login:wang.wei", "address:10.0.0.7"]
    assert keys("x", None) == ["login:x"]


def test_below_the_limits_there_is_no_wait() -> None:
    failures = {"login:x": (4, NOW), "address:a": (19, NOW)}
    assert retry_after(failures, LIMITS, NOW) is None


def test_at_an_accounts_limit_wait_until_its_oldest_failure_leaves_the_window() -> None:
    failures = {"login:x": (5, NOW - timedelta(minutes=10))}
    assert retry_after(failures, LIMITS, NOW) == 300.0


def test_the_longer_wait_wins_and_it_is_never_under_a_second() -> None:
    failures = {
        "login:x": (5, NOW - timedelta(minutes=14, seconds=59, milliseconds=900)),
        "address:a": (20, NOW - timedelta(minutes=5)),
    }
    assert retry_after(failures, LIMITS, NOW) == 600.0
    only_login = {"login:x": failures["login:x"]}
    assert retry_after(only_login, LIMITS, NOW) == 1.0
