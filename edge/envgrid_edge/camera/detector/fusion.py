"""Temporal evidence and the learned verifier together: the verifier confirms or vetoes, cheaply.

Strong temporal evidence stands on its own (no verifier, or none asked yet); a verifier that is
sure a candidate is neither fire nor smoke vetoes it; otherwise its score is blended in. The
verifier's per-kind scores are added up (its probabilities of fire and of smoke), so it vouches
for a burn and the temporal cues say which kind.
"""

from __future__ import annotations

from collections.abc import Callable

from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.tracks import Track
from envgrid_edge.camera.events import Box, Frame, RegionScorer

# Consecutive verifier scores of one candidate are averaged with this weight on the newest.
_SCORE_WEIGHT = 0.5


def fuse(
    temporal: float, score: float | None, config: DetectorConfig, *, waiting: bool = False
) -> tuple[float, bool]:
    """Confidence from temporal evidence and the verifier's score; and whether it is held back:
    vetoed by a low score, or (``waiting``: a verifier exists but has not judged this candidate
    yet) not strong enough to go ahead without its verdict."""
    if score is None:
        return temporal, waiting and temporal < config.scorer_bypass
    blended = (1.0 - config.scorer_weight) * temporal + config.scorer_weight * score
    return blended, score < config.scorer_veto


class ScorerBudget:
    """Asks the verifier about one candidate at a time, at most ``scorer_rate_hz`` a second."""

    def __init__(self, scorer: RegionScorer | None, config: DetectorConfig) -> None:
        self._scorer = scorer
        self._config = config
        self._next_at = float("-inf")
        self.calls = 0

    @property
    def present(self) -> bool:
        """Whether there is a verifier to ask."""
        return self._scorer is not None

    def reset(self) -> None:
        """Forget when the verifier was last asked."""
        self._next_at = float("-inf")

    def ask(
        self,
        frame: Frame,
        tracks: list[Track],
        evidence: dict[int, float],
        at: float,
        to_input: Callable[[Box], Box],
    ) -> None:
        """Score the candidate asked about least recently, if one qualifies and time allows."""
        if self._scorer is None or at < self._next_at:
            return
        waiting = [
            t
            for t in tracks
            if t.seen and evidence.get(t.number, 0.0) >= self._config.scorer_min_evidence
        ]
        if not waiting:
            return
        track = min(waiting, key=lambda t: t.scored_at)
        scores = self._scorer.score(frame, to_input(track.box))
        # The verifier is asked "fire or smoke?", not which: a crop of a flame front with its
        # smoke may look like smoke to it, while flicker is the better judge of the kind.
        value = min(1.0, max(0.0, sum(float(v) for v in scores.values())))
        track.score = (
            value
            if track.score is None
            else ((1.0 - _SCORE_WEIGHT) * track.score + _SCORE_WEIGHT * value)
        )
        track.scored_at = at
        self._next_at = at + 1.0 / self._config.scorer_rate_hz
        self.calls += 1
