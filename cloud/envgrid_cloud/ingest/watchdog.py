"""Whether an ingest worker is getting anywhere: messages held but nothing committed is a stall.

A stall that nothing reports is a loss waiting to happen: the broker keeps sending to a
worker that commits nothing, and every health check says all is well. The worker looks at
what it holds (received, not yet acknowledged) and at its writer, once a second.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Progress:
    """What the worker knows of itself now (times are monotonic seconds)."""

    now: float
    held: int  # messages received on this connection and not yet acknowledged
    oldest_held: float | None  # when the oldest of them came
    last_commit: float | None
    write_started: float | None  # a database write under way since
    failing_since: float | None  # database writes failing since
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Healthy, or stalled with the reason; ``give_up`` asks the process to exit."""

    stalled: bool = False
    reason: str | None = None
    give_up: bool = False


HEALTHY = Verdict()


@dataclass(frozen=True, slots=True)
class Watchdog:
    """Stalled after ``stall_s`` without a commit while messages wait.

    A worker stuck for ``stuck_exit_s`` in one database write, or making no progress without
    any failure to retry, gives up so that its supervisor starts it afresh (its messages come
    again from the broker). One whose writes fail keeps retrying: a new process would meet
    the same database.
    """

    stall_s: float
    stuck_exit_s: float

    def judge(self, p: Progress) -> Verdict:
        """The verdict on ``p``."""
        if p.held <= 0 or p.oldest_held is None:
            return HEALTHY
        waiting_since = max(p.oldest_held, p.last_commit or p.oldest_held)
        waited = p.now - waiting_since
        if waited < self.stall_s:
            return HEALTHY
        held = f"{p.held} message(s) wait"
        if p.write_started is not None and p.now - p.write_started >= self.stall_s:
            running = p.now - p.write_started
            return Verdict(
                True,
                f"a database write has been running for {running:.0f} s; {held}",
                running >= self.stuck_exit_s,
            )
        if p.failing_since is not None:
            failing = p.now - p.failing_since
            return Verdict(
                True, f"database writes failing for {failing:.0f} s ({p.last_error}); {held}"
            )
        return Verdict(
            True, f"nothing committed for {waited:.0f} s; {held}", waited >= self.stuck_exit_s
        )
