"""Assessment months: calendar months on Shanghai's clock, as ``YYYY-MM``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from envgrid_common.clock import SHANGHAI

# Years 1000–2999: what a person means, and a month whose end Python's datetime still holds.
MONTH_PATTERN = r"^[12][0-9]{3}-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """One calendar month in Asia/Shanghai: [start, end) as aware instants."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``2026-05`` → May 2026; ``ValueError`` for anything else."""
        if not _MONTH.fullmatch(text):
            raise ValueError(f"{text!r} is not a month: use YYYY-MM, e.g. 2026-05")
        return cls(int(text[:4]), int(text[5:]))

    @classmethod
    def containing(cls, instant: datetime) -> Month:
        """The Shanghai month ``instant`` falls in."""
        local = instant.astimezone(SHANGHAI)
        return cls(local.year, local.month)

    @property
    def start(self) -> datetime:
        """Midnight of the 1st, Shanghai time."""
        return datetime(self.year, self.month, 1, tzinfo=SHANGHAI)

    @property
    def end(self) -> datetime:
        """Midnight of the 1st of the next month, Shanghai time (excluded)."""
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return datetime(year, month, 1, tzinfo=SHANGHAI)

    @property
    def label_zh(self) -> str:
        """``2026年5月``."""
        return f"{self.year}年{self.month}月"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
