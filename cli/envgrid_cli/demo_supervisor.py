"""Keeps the demo's parts running: restarts one that died, gives up on one that dies at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from envgrid_cli.demo_parts import Part, log_tail
from envgrid_common.lifecycle import Restarts, describe_exit

# Exits in a row, each soon after its start (Restarts.healthy_after_s), before giving up.
GIVE_UP_AFTER = 5


@dataclass
class _Watched:
    part: Part
    started_at: float
    restarts: Restarts = field(default_factory=Restarts)
    restart_at: float | None = None


class GaveUp(Exception):
    """A part keeps dying at once: restarting it again would not help."""


class Supervisor:
    """Watches parts started just before it is made; call :meth:`check` often (main thread)."""

    def __init__(
        self,
        parts: Sequence[Part],
        say: Callable[[str], None],
        restarts: Callable[[], Restarts] = Restarts,
    ) -> None:
        now = time.monotonic()
        self._watched = [_Watched(part, now, restarts()) for part in parts]
        self._say = say

    def check(self) -> None:
        """Restart parts that died and whose back-off has passed; raise GaveUp if one must not."""
        now = time.monotonic()
        for watched in self._watched:
            if watched.restart_at is None:
                status = watched.part.exit_status()
                if status is not None:
                    self._schedule(watched, now, f"died ({describe_exit(status)})")
            elif now >= watched.restart_at:
                self._restart(watched, now)

    def _schedule(self, watched: _Watched, now: float, what: str) -> None:
        part, restarts = watched.part, watched.restarts
        delay = restarts.delay_after(now - watched.started_at)
        tail = log_tail(part.log_path)
        if restarts.in_a_row >= GIVE_UP_AFTER:
            raise GaveUp(
                f"{part.name} keeps dying at once ({restarts.in_a_row} times in a row, each "
                f"within {restarts.healthy_after_s:g} s of its start; last: {what}): not "
                f"restarting it again. Its log ({part.log_path}) ends:\n{tail}"
            )
        self._say(
            f"{part.name} (pid {part.pid}) {what}; restarting it in {delay:g} s."
            f" Its log ends:\n{tail}"
        )
        watched.restart_at = now + delay

    def _restart(self, watched: _Watched, now: float) -> None:
        watched.started_at, watched.restart_at = now, None
        try:
            watched.part.start()
        except (OSError, TimeoutError) as error:
            self._schedule(watched, now, f"could not start ({error})")
            return
        self._say(f"{watched.part.name} restarted (pid {watched.part.pid})")
