"""What an ingest worker has done so far, and whether it is getting anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

WorkerState = Literal["running", "stalled", "stopped"]


@dataclass(frozen=True, slots=True)
class IngestStats:
    """Counters of one worker.

    ``lag_s`` is the age of the oldest message the broker gave it that it has not yet committed
    and acknowledged; ``held`` is how many such messages it has; ``state`` is "stalled" (with
    the ``reason``) when it holds messages and has committed nothing for too long.
    """

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    statuses: int = 0
    batches: int = 0
    last_commit_at: datetime | None = None
    lag_s: float = 0.0
    held: int = 0
    reconnects: int = 0
    last_received_at: datetime | None = None
    state: WorkerState = "running"
    reason: str | None = None

    def __str__(self) -> str:
        last = self.last_commit_at.isoformat(timespec="seconds") if self.last_commit_at else "never"
        text = (
            f"received {self.received}, stored {self.stored}, duplicates {self.duplicates}, "
            f"dead letters {self.dead_lettered}, statuses {self.statuses}, "
            f"batches {self.batches}, last commit {last}, held {self.held}, "
            f"lag {self.lag_s:.2f}s, reconnects {self.reconnects}"
        )
        return f"{text}; {self.state}: {self.reason}" if self.reason else text
