"""The learned verifier as a RegionScorer: per-kind scores and a fire-or-smoke score per region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from envgrid_common.messages import DetectionKind
from envgrid_edge.camera.events import Box, Frame
from envgrid_edge.camera.verifier.backbone import Backbone
from envgrid_edge.camera.verifier.colour import is_greyscale
from envgrid_edge.camera.verifier.features import handcrafted
from envgrid_edge.camera.verifier.head import CLASSES
from envgrid_edge.camera.verifier.model import (
    DEFAULT_BACKBONE,
    DEFAULT_MODEL,
    VerifierModel,
    load_model,
)

# Boxes smaller than this (pixels a side) are grown around their centre: too few pixels to judge.
MIN_SIDE = 16
FIRE = CLASSES.index("fire")
SMOKE = CLASSES.index("smoke")


class Verifier:
    """Scores whole frames or boxes; one instance per thread (the ONNX net keeps state per call)."""

    def __init__(self, model: VerifierModel, backbone: Backbone | None = None) -> None:
        if model.uses_backbone and backbone is None:
            raise ValueError("this model needs the EfficientNet-Lite0 backbone")
        self.model = model
        self._backbone = backbone

    @property
    def threshold(self) -> float:
        """The fixed fire-or-smoke threshold chosen on the training pool."""
        return self.model.threshold

    def probabilities(self, frame: Frame, box: Box | None = None) -> tuple[float, float, float]:
        """(negative, fire, smoke) probabilities for ``box`` of ``frame`` (whole frame if None)."""
        region = crop(frame, box)
        head = self.model.grey if is_greyscale(region) else self.model.colour
        p = np.mean([head.probabilities(f) for f in self.features(region)], axis=0)
        return float(p[0]), float(p[FIRE]), float(p[SMOKE])

    def features(self, region: Frame) -> list[npt.NDArray[np.float32]]:
        """One feature vector per test-time view of the region (backbone first, then handcrafted).

        The handcrafted features are computed once: they do not depend on left or right (colour
        histograms, pattern counts, edge statistics, top/bottom brightness), and training used
        the unmirrored image's for both views.
        """
        parts = self.model.family.split("+")
        hand = handcrafted(region) if "hand" in parts else None
        out = []
        for view in self.model.views:
            image = region if view == "whole" else np.ascontiguousarray(region[:, ::-1])
            vector = []
            if self._backbone is not None and "deep" in parts:
                vector.append(self._backbone.features(image))
            if hand is not None:
                vector.append(hand)
            out.append(np.concatenate(vector))
        return out

    def score(self, frame: Frame, box: Box | None = None) -> dict[DetectionKind, float]:
        """Per-kind scores in 0..1 (RegionScorer)."""
        _, fire, smoke = self.probabilities(frame, box)
        return {DetectionKind.FLAME: fire, DetectionKind.SMOKE: smoke}

    def still_score(self, frame: Frame, box: Box | None = None) -> float:
        """Fire-or-smoke score in 0..1: one minus the probability of neither."""
        return 1.0 - self.probabilities(frame, box)[0]


def crop(frame: Frame, box: Box | None) -> Frame:
    """The box's pixels, clipped to the frame and grown to at least MIN_SIDE a side."""
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if box is None:
        return frame
    height, width = frame.shape[:2]
    x, y, w, h = box
    w2, h2 = max(w, MIN_SIDE), max(h, MIN_SIDE)
    x -= (w2 - w) // 2
    y -= (h2 - h) // 2
    x0, y0 = min(max(x, 0), max(width - 1, 0)), min(max(y, 0), max(height - 1, 0))
    x1, y1 = min(max(x + w2, x0 + 1), width), min(max(y + h2, y0 + 1), height)
    return frame[y0:y1, x0:x1]


def default_verifier(
    model_path: Path = DEFAULT_MODEL, backbone_path: Path = DEFAULT_BACKBONE
) -> Verifier:
    """A new Verifier from the committed model (loading takes ~0.1 s; reuse it per thread)."""
    model = load_model(model_path)
    backbone = Backbone(backbone_path) if model.uses_backbone else None
    return Verifier(model, backbone)
