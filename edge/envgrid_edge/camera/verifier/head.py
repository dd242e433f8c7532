"""The linear head: standardised features → softmax over negative, fire, smoke (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Column order of the head's outputs.
CLASSES = ("negative", "fire", "smoke")

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SoftmaxHead:
    """Multinomial logistic regression with its feature standardisation."""

    mean: Floats  # (F,)
    std: Floats  # (F,), never zero
    weights: Floats  # (F, 3)
    bias: Floats  # (3,)

    def probabilities(self, features: npt.NDArray[np.floating]) -> Floats:
        """Class probabilities, (N, 3) for (N, F) features or (3,) for one vector."""
        x = (np.asarray(features, dtype=np.float64) - self.mean) / self.std
        logits = x @ self.weights + self.bias
        logits = logits - logits.max(axis=-1, keepdims=True)
        e = np.exp(logits)
        return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float64)
