"""What the detector hands the agent: incidents with a stable id, and the interfaces between parts.

The agent owns sources, masks, rate, resolution and publishing; the detector owns judgement.
The temporal pipeline asks a :class:`RegionScorer` (the learned verifier) about candidate regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from envgrid_common.messages import DetectionKind, DetectionPhase

# A BGR uint8 image, as OpenCV decodes it (H × W × 3); greyscale/IR frames arrive as H × W × 3 too.
Frame = npt.NDArray[np.uint8]
# A single-channel uint8 mask: 255 where the detector may look, 0 where it must not.
Mask = npt.NDArray[np.uint8]
# x, y, width, height in pixels of the analysed frame.
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class CameraEvent:
    """One step of an incident: one ``new``, ``update``s with better evidence, one ``end``."""

    event_id: str  # stable for the incident; a valid envgrid identifier (letters, digits, - _)
    kind: DetectionKind
    phase: DetectionPhase
    confidence: float  # 0..1
    box: Box | None
    at: float  # the frame's time in seconds (the source's clock, monotonic within a run)
    snapshot: bytes | None = None  # JPEG of the best frame so far, on ``new`` and better ``update``


class RegionScorer(Protocol):
    """The learned verifier: how much a region (or a whole frame) looks like fire or smoke."""

    def score(self, frame: Frame, box: Box | None = None) -> dict[DetectionKind, float]:
        """Scores in 0..1 per kind for ``box`` of ``frame`` (the whole frame if None)."""
        ...


class FrameDetector(Protocol):
    """Fed frames in time order, it returns the incident steps each frame caused."""

    def process(self, frame: Frame, at: float) -> list[CameraEvent]:
        """Judge one frame taken at ``at`` seconds."""
        ...

    def finish(self, at: float) -> list[CameraEvent]:
        """End every open incident (the source ended or the agent stops)."""
        ...
