"""Progress on stderr: a bar with rate and ETA on a terminal, a line now and then otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
# Off a terminal (a log file), a line this often rather than a redraw every tick.
LOG_EVERY_S = 10.0


def human_bytes(count: float) -> str:
    """1,536 → ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def clock_text(seconds: float) -> str:
    """3725 → ``1:02:05``."""
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Redraws one status line; the rate is smoothed over the last few updates."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        total: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._label = label
        self._total = total
        self._monotonic = monotonic
        self._tty = stream.isatty()
        self._began = self._last_at = self._logged_at = monotonic()
        self._last_done = 0
        self.rate = 0.0
        self._drawn = False

    def update(self, done: int, detail: str = "", *, final: bool = False) -> None:
        """Show ``done`` (of the total, if known) with ``detail`` after it."""
        now = self._monotonic()
        span = now - self._last_at
        if span > 0:
            instant = (done - self._last_done) / span
            self.rate = instant if not self._last_done else 0.5 * self.rate + 0.5 * instant
        self._last_at, self._last_done = now, done
        line = self.line(done, detail, now)
        if self._tty:
            self._stream.write(f"\r\x1b[K{line}" + ("\n" if final else ""))
            self._drawn = not final
        elif final or now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            self._stream.write(line + "\n")
        self._stream.flush()

    def line(self, done: int, detail: str, now: float) -> str:
        """The status line."""
        parts = [self._label]
        total = self._total
        if total:
            share = min(1.0, done / total)
            filled = int(share * BAR_WIDTH)
            parts.append(f"{share:4.0%} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}]")
            parts.append(f"{done:,}/{total:,}")
        else:
            parts.append(f"{done:,}")
        elapsed = now - self._began
        average = done / elapsed if elapsed > 0 else 0.0
        parts.append(f"{self.rate:,.0f} msg/s")
        if detail:
            parts.append(detail)
        if total and average > 0 and done < total:
            parts.append(f"ETA {clock_text((total - done) / average)}")
        return "  ".join(parts)

    def close(self) -> None:
        """End the redrawn line, if one is showing."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
