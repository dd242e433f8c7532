"""Which node ids the registry knows, cached so the hot path checks a set, not the database."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection


class NodeCache:
    """The registry's node ids; reloaded by the writer thread, read by the network thread."""

    def __init__(
        self,
        load: Callable[[], Collection[str]],
        *,
        max_age_s: float = 10.0,
        miss_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._max_age_s = max_age_s
        self._miss_interval_s = miss_interval_s
        self._clock = clock
        self._loaded_at: float | None = None
        # Replaced whole, never mutated: the network thread reads it without a lock.
        self.known: frozenset[str] = frozenset()

    def refresh_if_stale(self) -> None:
        """Reload when the ids are older than ``max_age_s`` (or were never loaded)."""
        if self._loaded_at is None or self._clock() - self._loaded_at >= self._max_age_s:
            self._reload()

    def lookup(self, node_ids: Collection[str]) -> frozenset[str]:
        """Which of ``node_ids`` are known; a miss reloads, at most every ``miss_interval_s``."""
        missing = [n for n in node_ids if n not in self.known]
        if missing and (
            self._loaded_at is None or self._clock() - self._loaded_at >= self._miss_interval_s
        ):
            self._reload()
        return frozenset(n for n in node_ids if n in self.known)

    def _reload(self) -> None:
        self.known = frozenset(self._load())
        self._loaded_at = self._clock()
