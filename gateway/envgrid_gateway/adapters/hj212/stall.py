"""Noticing a backlog that does not move: frames wait for the disk buffer and none is stored."""

from __future__ import annotations

import time
from collections.abc import Callable


class StallWatch:
    """How long frames have waited with none stored meanwhile; each stall reported once.

    A device that waits for its 9014 before sending the next frame sees a stalled gateway as
    silence, and the connection itself looks healthy: this is where it shows.
    """

    def __init__(self, bound_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._bound_s = bound_s
        self._clock = clock
        self._waiting = 0
        self._moved_at = clock()
        self._reported_at: float | None = None  # when the current stall was reported
        self.stalls = 0

    def handed(self) -> None:
        """A frame went to the bridge and waits to be stored."""
        if self._waiting == 0:
            self._moved_at = self._clock()  # the wait starts now, not at the last store
        self._waiting += 1

    def stored(self) -> float | None:
        """A frame was stored; after a reported stall, how long it lasted (else None)."""
        self._waiting -= 1
        now = self._clock()
        lasted = None if self._reported_at is None else now - self._moved_at
        self._moved_at, self._reported_at = now, None
        return lasted

    def stalled_s(self) -> float:
        """Seconds since a frame was last stored while some wait (0 when none waits)."""
        return 0.0 if self._waiting <= 0 else max(0.0, self._clock() - self._moved_at)

    def check(self) -> float | None:
        """The stall's length the first time it passes the bound, else None."""
        stalled = self.stalled_s()
        if stalled < self._bound_s or self._reported_at is not None:
            return None
        self._reported_at = self._clock()
        self.stalls += 1
        return stalled
