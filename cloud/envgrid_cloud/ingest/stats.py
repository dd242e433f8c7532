"""What an ingest worker has done so far."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class IngestStats:
    """Counters of one worker; ``lag_s`` is the age of its oldest message not yet committed."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    statuses: int = 0
    batches: int = 0
    last_commit_at: datetime | None = None
    lag_s: float = 0.0

    def __str__(self) -> str:
        last = self.last_commit_at.isoformat(timespec="seconds") if self.last_commit_at else "never"
        return (
            f"received {self.received}, stored {self.stored}, duplicates {self.duplicates}, "
            f"dead letters {self.dead_lettered}, statuses {self.statuses}, "
            f"batches {self.batches}, last commit {last}, lag {self.lag_s:.2f}s"
        )
