"""Time zones and clocks: instants are kept in UTC and shown on Asia/Shanghai's clock."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WallClock = Callable[[], datetime]
"""What code that needs the current time takes, so that tests can hand it their own."""


def _shanghai() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:
        # No tz database (Windows, a bare device): China has kept UTC+8 without DST since 1991.
        return timezone(timedelta(hours=8), "CST")


SHANGHAI = _shanghai()


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def shanghai_now() -> datetime:
    """The current time on Shanghai's clock."""
    return datetime.now(SHANGHAI)


def to_shanghai(value: datetime) -> datetime:
    """The same instant on Shanghai's clock (a naive value is taken to be UTC, as stored)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI)


class CoarseClock:
    """UTC now, re-read at most every ``resolution_s``: plenty for ±minutes plausibility checks."""

    def __init__(
        self,
        resolution_s: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
        wall: WallClock = utc_now,
    ) -> None:
        self._resolution_s = resolution_s
        self._monotonic = monotonic
        self._wall = wall
        self._at = monotonic()
        self._now = wall()

    def now(self) -> datetime:
        """The current time, at most ``resolution_s`` old."""
        at = self._monotonic()
        if at - self._at >= self._resolution_s:
            self._at, self._now = at, self._wall()
        return self._now


class ManualClock:
    """A wall clock that moves only when told (a :data:`WallClock` for tests and replays)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move on ``seconds``; the new time."""
        self.now += timedelta(seconds=seconds)
        return self.now


class ManualSeconds:
    """Seconds (monotonic or epoch) that move only when told; ``sleep`` moves them too."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Pass ``seconds`` at once, as a test's stand-in for ``time.sleep``."""
        self.now += seconds


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_ns(ns: int) -> datetime:
    """UTC nanoseconds since the epoch as an aware instant (microseconds kept, as stored)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


class FeedClock:
    """The time of a replayed feed: where its last clock tick put it, never back.

    A cloud started with ``ENVGRID_CLOCK=feed`` takes every decision time from one of these
    instead of the wall (a :data:`WallClock` when called, and a :class:`CoarseClock` stand-in
    through :meth:`now`), so a feed replayed at any speed decides at the times it did live.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self.feed_ns = start_ns

    def __call__(self) -> datetime:
        return from_ns(self.feed_ns)

    def now(self) -> datetime:
        """The feed's current time."""
        return from_ns(self.feed_ns)

    def advance_to(self, feed_ns: int) -> bool:
        """Move to ``feed_ns`` if it is later; whether the clock moved."""
        if feed_ns <= self.feed_ns:
            return False
        self.feed_ns = feed_ns
        return True


def encode_tick(feed_ns: int, *, last: bool = False) -> bytes:
    """A feed clock tick's payload: ``{"feed_ns": N}`` (UTC nanoseconds), with ``"last": true``
    on a replay's closing tick (and on a worker's report of it)."""
    body: dict[str, int | bool] = {"feed_ns": feed_ns}
    if last:
        body["last"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def is_last_tick(payload: bytes | bytearray) -> bool:
    """Whether a tick is a replay's closing one (every decision due by then must be made)."""
    try:
        return json.loads(payload).get("last") is True
    except (ValueError, AttributeError):
        return False


def decode_tick(payload: bytes | bytearray) -> int:
    """The feed time of a tick's payload; ValueError if it is not one."""
    try:
        value = json.loads(payload)["feed_ns"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"not a feed clock tick: {payload[:80]!r}") from error
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"not a feed clock tick: {payload[:80]!r}")
    return value
