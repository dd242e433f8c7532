"""The one small interface every sensor driver implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from envgrid_common.messages import DataFlag


class DriverError(RuntimeError):
    """A read that produced no value at all (instrument unreachable, every register failed)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One read: values by canonical metric name, and HJ 212 flags for some of them."""

    values: dict[str, float]
    flags: dict[str, DataFlag] = field(default_factory=dict)


class Driver(Protocol):
    """Reads an instrument; one module per kind of instrument."""

    def read(self, at: datetime) -> Sample:
        """Measure now (``at`` is the time stamped on the reading); raise DriverError if none."""
        ...

    def close(self) -> None:
        """Release the port or connection."""
        ...
