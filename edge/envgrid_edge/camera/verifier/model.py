"""The committed verifier model: which features, the colour and grey heads, the fixed threshold."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envgrid_edge.camera.verifier.head import SoftmaxHead

MODEL_DIR = Path(__file__).resolve().parents[1] / "model"
DEFAULT_MODEL = MODEL_DIR / "verifier.npz"
DEFAULT_BACKBONE = MODEL_DIR / "lite0-features.onnx"
FAMILIES = ("hand", "deep", "deep+hand")
# Test-time views of a region whose probabilities are averaged: as it is, and mirrored left-right.
VIEWS = ("whole", "flip")


@dataclass(frozen=True)
class VerifierModel:
    """What the training script wrote: feature family, two heads and one threshold."""

    family: str  # "hand" (colour/texture/edge), "deep" (EfficientNet-Lite0 pooled) or both
    threshold: float  # fire-or-smoke score at and above which a frame is flagged
    colour: SoftmaxHead
    grey: SoftmaxHead  # for greyscale/IR frames, shifted so ``threshold`` means the same there
    views: tuple[str, ...] = ("whole",)  # test-time views, their probabilities averaged

    @property
    def uses_backbone(self) -> bool:
        """True when the features include the EfficientNet-Lite0 ones."""
        return "deep" in self.family.split("+")


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def load_model(path: Path = DEFAULT_MODEL) -> VerifierModel:
    """Read a model file written by scripts/train_detector.py."""
    with np.load(path, allow_pickle=False) as data:
        family = str(data["family"])
        if family not in FAMILIES:
            raise ValueError(f"{path}: unknown feature family {family!r}")
        threshold = float(data["threshold"])
        views = tuple(str(v) for v in data["views"]) if "views" in data.files else ("whole",)
        if not views or set(views) - set(VIEWS):
            raise ValueError(f"{path}: unknown test-time views {views!r}")

        def head(prefix: str) -> SoftmaxHead:
            return SoftmaxHead(
                mean=data[f"{prefix}_mean"],
                std=data[f"{prefix}_std"],
                weights=data[f"{prefix}_weights"],
                bias=data[f"{prefix}_bias"].copy(),
            )

        colour = head("colour")
        grey = head("grey")
        # Moving the negative class's logit moves logit(1 − P(negative)) by the same amount:
        # this puts the grey head's own out-of-fold threshold onto the colour threshold.
        shift = _logit(threshold) - _logit(float(data["grey_threshold"]))
        grey.bias[0] -= shift
    return VerifierModel(family=family, threshold=threshold, colour=colour, grey=grey, views=views)
