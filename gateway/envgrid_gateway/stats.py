"""Counters the gateway keeps, the reason classes it counts refusals by, and a quiet logger."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

# Substrings of envgrid_common.validation's reasons, first match wins; the full reason
# travels in the dead letter, the class is only for counting.
_REASON_CLASSES: tuple[tuple[str, str], ...] = (
    ("Invalid JSON", "bad_json"),
    ("unknown metric", "unknown_metric"),
    ("finite number", "not_finite"),
    ("in the future", "future_ts"),
    ("older than", "stale_ts"),
    ("not a JPEG", "not_jpeg"),
    ("exceeds", "too_large"),
    ("node topic", "bad_topic"),
    ("uplink refused", "uplink_refused"),
)


def reason_class(reason: str) -> str:
    """A short class for a refusal reason, for counters (``schema`` when nothing fits)."""
    if reason.startswith("HJ 212 "):  # the HJ 212 listener's: "HJ 212 crc_mismatch: …"
        return "hj212_" + reason[7:].partition(":")[0]
    for needle, name in _REASON_CLASSES:
        if needle in reason:
            return name
    return "schema"


class Stats:
    """Thread-safe named counters: each thread adds to its own, summed when read."""

    def __init__(self) -> None:
        # A lock per count cost the network thread 8 % of its time (four counts a message);
        # a thread's own dict needs none, as only that thread writes to it.
        self._local = threading.local()
        self._lock = threading.Lock()  # guards the list of threads' dicts, not the counts
        self._threads: list[dict[str, int]] = []

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a counter."""
        try:
            counts: dict[str, int] = self._local.counts
        except AttributeError:
            counts = self._local.counts = {}
            with self._lock:
                self._threads.append(counts)
        counts[name] = counts.get(name, 0) + n

    def get(self, name: str) -> int:
        """One counter's value."""
        with self._lock:
            return sum(counts.get(name, 0) for counts in self._threads)

    def snapshot(self) -> dict[str, int]:
        """Every counter, as a plain dict."""
        total: Counter[str] = Counter()
        with self._lock:
            for counts in self._threads:
                # One copy under the interpreter lock: the owner may be adding meanwhile.
                for name, n in counts.copy().items():
                    total[name] += n
        return dict(total)


class QuietLog:
    """Log each event at INFO, but at most ``burst`` per ``window_s``; then count the rest."""

    def __init__(
        self,
        log: logging.Logger,
        burst: int = 20,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._burst = burst
        self._window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._logged = 0
        self._suppressed = 0

    def info(self, msg: str, *args: object) -> None:
        """Log unless this window's burst is used up."""
        with self._lock:
            self._roll()
            if self._logged >= self._burst:
                self._suppressed += 1
                return
            self._logged += 1
        self._log.info(msg, *args)

    def flush(self) -> None:
        """Say how many were held back once their window is over (called periodically)."""
        with self._lock:
            self._roll()

    def _roll(self) -> None:
        now = self._clock()
        if now - self._window_start < self._window_s:
            return
        if self._suppressed:
            self._log.info(
                "%d more dead letter(s) in %.0f s not logged one by one (see the counters)",
                self._suppressed,
                now - self._window_start,
            )
        self._window_start, self._logged, self._suppressed = now, 0, 0
