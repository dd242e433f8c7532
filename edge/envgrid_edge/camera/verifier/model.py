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
FAMILIES = ("hand", "deep")


@dataclass(frozen=True)
class VerifierModel:
    """What the training script wrote: feature family, two heads and one threshold."""

    family: str  # "hand" (colour/texture/edge features) or "deep" (EfficientNet-Lite0 pooled)
    threshold: float  # fire-or-smoke score at and above which a frame is flagged
    colour: SoftmaxHead
    grey: SoftmaxHead  # for greyscale/IR frames, shifted so ``threshold`` means the same there


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
    return VerifierModel(family=family, threshold=threshold, colour=colour, grey=grey)
