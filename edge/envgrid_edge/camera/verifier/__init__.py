"""The learned verifier: how much a frame or a candidate region looks like fire or smoke.

``default_verifier()`` loads the committed model (edge/envgrid_edge/camera/model, see MODEL.md);
it implements :class:`envgrid_edge.camera.events.RegionScorer`. ``still_score`` is the per-frame
fire-or-smoke score for still images.
"""

from __future__ import annotations

import threading

from envgrid_edge.camera.events import Frame
from envgrid_edge.camera.verifier.scorer import Verifier, default_verifier

__all__ = ["Verifier", "default_verifier", "still_score"]

_local = threading.local()


def still_score(frame: Frame) -> float:
    """Fire-or-smoke score (0..1) of a whole still frame with the committed model, per thread."""
    verifier: Verifier | None = getattr(_local, "verifier", None)
    if verifier is None:
        verifier = default_verifier()
        _local.verifier = verifier
    return verifier.still_score(frame)
