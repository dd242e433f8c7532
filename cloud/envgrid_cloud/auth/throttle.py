"""Throttling failed logins, per account and per address, within a sliding window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Limits:
    """At most ``per_login`` failures for one account, ``per_address`` from one address."""

    per_login: int
    per_address: int
    window_s: int


def keys(login: str, address: str | None) -> list[str]:
    """What one attempt counts against."""
    found = [f"login:{login.strip().lower()}"]
    if address:
        found.append(f"address:{address}")
    return found


def retry_after(
    failures: Mapping[str, tuple[int, datetime]], limits: Limits, now: datetime
) -> float | None:
    """Seconds to wait before the next attempt, if a limit is reached; else None.

    ``failures`` maps a key to its failures within the window and the oldest one's time: the
    wait lasts until that one leaves the window.
    """
    wait: float | None = None
    window = timedelta(seconds=limits.window_s)
    for key, (count, oldest) in failures.items():
        limit = limits.per_login if key.startswith("login:") else limits.per_address
        if count >= limit:
            left = max(1.0, (oldest + window - now).total_seconds())
            wait = left if wait is None else max(wait, left)
    return wait
