"""Evidence that must persist: M of the last N analysed frames must agree before anything starts."""

from __future__ import annotations

from collections import deque


class Votes:
    """The last ``n`` frames' verdicts on one candidate, with their evidence values."""

    def __init__(self, m: int, n: int) -> None:
        self._m = m
        self._agree: deque[bool] = deque(maxlen=n)
        self._evidence: deque[float] = deque(maxlen=n)

    def push(self, evidence: float, agrees: bool) -> None:
        """Record one analysed frame (evidence 0, disagreeing, when the candidate was not seen)."""
        self._evidence.append(evidence)
        self._agree.append(agrees)

    @property
    def agreeing(self) -> int:
        """How many of the last ``n`` frames agreed."""
        return sum(self._agree)

    @property
    def started(self) -> bool:
        """True once ``m`` of the last ``n`` frames agreed."""
        return self.agreeing >= self._m

    @property
    def latest(self) -> bool:
        """Whether the most recent frame agreed."""
        return bool(self._agree) and self._agree[-1]

    @property
    def confidence(self) -> float:
        """Mean evidence of the agreeing frames, scaled down only while fewer than ``m`` agree.

        ``m`` agreeing frames is the persistence an incident needs to start, so it counts in
        full: a started incident is reported at no less than its frames' evidence bar (each
        agreeing frame met it), and its confidence falls only as its support thins out."""
        agreeing = [e for e, a in zip(self._evidence, self._agree, strict=True) if a]
        if not agreeing:
            return 0.0
        return sum(agreeing) / len(agreeing) * min(1.0, len(agreeing) / self._m)
