"""MNs that send frames but are not registered: held as "pending registration", and counted."""

from __future__ import annotations

# Counters for at most this many MNs by name (a hostile client could invent millions);
# beyond it they are still counted in the totals.
MAX_LISTED = 100


class PendingMns:
    """Frames per unregistered MN, for the gateway status (``hj212_pending_mn.<MN>``)."""

    def __init__(self, max_listed: int = MAX_LISTED) -> None:
        self._max_listed = max_listed
        self._frames: dict[str, int] = {}
        self.frames = 0  # all frames of unregistered MNs
        self.mns = 0  # distinct MNs seen (listed or not)
        self._unlisted: set[str] = set()

    def note(self, mn: str) -> bool:
        """Count one frame of ``mn``; True the first time this MN is seen."""
        self.frames += 1
        if mn in self._frames:
            self._frames[mn] += 1
            return False
        if len(self._frames) < self._max_listed:
            self._frames[mn] = 1
            self.mns += 1
            return True
        if mn in self._unlisted:
            return False
        if len(self._unlisted) < 100 * self._max_listed:
            self._unlisted.add(mn)
        self.mns += 1
        return True

    def counters(self) -> dict[str, int]:
        """Totals and, per listed MN, its frames."""
        out = {"hj212_pending_mns": self.mns, "hj212_pending_frames": self.frames}
        out.update({f"hj212_pending_mn.{mn}": n for mn, n in self._frames.copy().items()})
        return out
