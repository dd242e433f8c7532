"""When a station uploads: real-time every RtdInterval, minute data and hourly data at the end
of their windows, on a clock that may run faster than real time (for demos and tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from envgrid_sim.hj212.compose import HOURLY, MINUTE, REALTIME

MIN_INTERVALS_MIN = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)
"""表 4: the MinInterval values a system may use, in minutes."""
RTD_INTERVAL_MIN_S = 30.0
RTD_INTERVAL_MAX_S = 3600.0
"""表 4: the range of RtdInterval, seconds between real-time uploads."""


class StationClock:
    """Wall time that runs ``speed`` times faster than real time from ``start``.

    With ``cap`` (the real clock), it never runs ahead of the present: a station started in
    the past (``start`` hours ago) races through that backlog at ``speed`` and then keeps
    real time, as a 数采仪 catching up after an outage does. Without it (tests against a
    fake platform), it keeps running fast.
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        cap: Callable[[], datetime] | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()
        self._cap = cap

    def _fast(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed)

    def now(self) -> datetime:
        """The station's current time."""
        fast = self._fast()
        return fast if self._cap is None else min(fast, self._cap())

    def real_seconds(self, until: datetime) -> float:
        """Real seconds to wait until the station's clock reads ``until`` (0 if past)."""
        fast = self._fast()
        if self._cap is not None and fast >= (present := self._cap()):
            return max(0.0, (until - present).total_seconds())
        return max(0.0, (until - fast).total_seconds() / self.speed)


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often each kind of data goes up (table 4's RtdInterval 30-3600 s, MinInterval)."""

    realtime: timedelta = timedelta(seconds=30)
    minute: timedelta = timedelta(minutes=10)
    hourly: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        for name in ("realtime", "minute", "hourly"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} interval must be positive")


@dataclass(frozen=True, slots=True)
class Due:
    """One upload falling due: its command, the DataTime it carries and the window's length."""

    cn: str
    data_time: datetime
    window: timedelta | None = None


def _aligned_after(at: datetime, step: timedelta) -> datetime:
    """The first multiple of ``step`` (counted from the epoch) strictly after ``at``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    steps = (at - epoch) // step
    return epoch + step * (steps + 1)


class Schedule:
    """The next uploads in time order; windows are aligned to their length, as devices do."""

    def __init__(self, cadence: Cadence, start: datetime) -> None:
        self.cadence = cadence
        # Each command's next send time (for 2051/2061: the end of the window it reports).
        self._next = {
            REALTIME: _aligned_after(start, cadence.realtime),
            MINUTE: _aligned_after(start, cadence.minute),
            HOURLY: _aligned_after(start, cadence.hourly),
        }

    def next_at(self) -> datetime:
        """When the next upload falls due."""
        return min(self._next.values())

    def take(self, now: datetime) -> list[Due]:
        """Every upload due by ``now``, oldest first (missed ones included, none skipped)."""
        out: list[Due] = []
        steps = {
            REALTIME: self.cadence.realtime,
            MINUTE: self.cadence.minute,
            HOURLY: self.cadence.hourly,
        }
        for cn, step in steps.items():
            while self._next[cn] <= now:
                at = self._next[cn]
                if cn == REALTIME:
                    out.append(Due(cn, at))
                else:
                    # DataTime of minute and hourly data is the start of the window (表 4).
                    out.append(Due(cn, at - step, step))
                self._next[cn] = at + step
        out.sort(key=lambda due: due.data_time + (due.window or timedelta(0)))
        return out
