"""Daily patterns of a signal in China local time: a smooth cycle, peaks, a filling bin."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from envgrid_common.clock import SHANGHAI

DAY_H = 24.0
_STEPS = 96  # quarter hours in a day


def local_hour(at: datetime) -> float:
    """Hour of day in China (0 ≤ h < 24) of an aware time."""
    local = at.astimezone(SHANGHAI)
    return local.hour + local.minute / 60 + local.second / 3600 + local.microsecond / 3.6e9


def _hour_distance(a: float, b: float) -> float:
    """Signed distance a − b on the 24-hour circle, in (−12, 12]."""
    d = (a - b) % DAY_H
    return d - DAY_H if d > DAY_H / 2 else d


class Cycle(Protocol):
    """An additive daily pattern: the offset from the baseline at a local hour of day."""

    def offset(self, hour: float) -> float:
        """Offset at ``hour`` (0–24, local time)."""
        ...


@dataclass(frozen=True, slots=True)
class Bump:
    """A daily peak (or dip, with a negative height) centred on a local hour."""

    hour: float
    width_h: float
    height: float

    def at(self, hour: float) -> float:
        """This bump's contribution at ``hour``."""
        d = _hour_distance(hour, self.hour)
        return self.height * math.exp(-0.5 * (d / self.width_h) ** 2)


@dataclass(frozen=True, slots=True)
class DailyCycle:
    """A smooth day: one sinusoid peaking at ``peak_hour`` plus any number of bumps."""

    amplitude: float = 0.0
    peak_hour: float = 14.0
    bumps: tuple[Bump, ...] = ()

    def offset(self, hour: float) -> float:
        """Offset at ``hour``."""
        wave = self.amplitude * math.cos(2 * math.pi * _hour_distance(hour, self.peak_hour) / 24)
        return wave + sum(b.at(hour) for b in self.bumps)


FLAT = DailyCycle()


@dataclass(frozen=True, slots=True)
class Sawtooth:
    """Something that accumulates through the day and is emptied at a fixed hour (a bin).

    The offset is ``amount`` times the share of the day's activity since the last emptying:
    activity is a small constant plus the bumps (meal times fill bins faster than nights).
    """

    reset_hour: float
    amount: float
    activity: tuple[Bump, ...] = ()
    base_activity: float = 0.15
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Share of the day's activity done at each 15 minutes after emptying, computed once.
        total, shares = 0.0, [0.0]
        for i in range(_STEPS):
            total += self._rate(self.reset_hour + (i + 0.5) * DAY_H / _STEPS)
            shares.append(total)
        object.__setattr__(self, "_cumulative", tuple(x / total for x in shares))

    def _rate(self, hour: float) -> float:
        return self.base_activity + sum(b.at(hour) for b in self.activity)

    def offset(self, hour: float) -> float:
        """Offset at ``hour``: near 0 just after emptying, ``amount`` just before the next."""
        position = (hour - self.reset_hour) % DAY_H / DAY_H * _STEPS
        i = min(int(position), _STEPS - 1)
        share = self._cumulative[i] + (self._cumulative[i + 1] - self._cumulative[i]) * (
            position - i
        )
        return self.amount * share
