"""Pooled EfficientNet-Lite0 features of a region, from the project's ONNX file through cv2.dnn."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from envgrid_edge.camera.verifier.colour import Image

INPUT_SIZE = 224
# EfficientNet-Lite was trained on pixels scaled to [-1, 1]: (x − 127) / 128.
MEAN = 127.0
SCALE = 1.0 / 128.0
FEATURES = 1280


class Backbone:
    """One loaded network; not thread-safe (cv2.dnn nets keep per-call state), one per worker."""

    def __init__(self, onnx_path: Path) -> None:
        self._net = cv2.dnn.readNetFromONNX(str(onnx_path))
        self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def features(self, bgr: Image) -> npt.NDArray[np.float32]:
        """The 1280 pooled activations for a BGR region of any size (stretched to 224 × 224)."""
        blob = cv2.dnn.blobFromImage(
            bgr, SCALE, (INPUT_SIZE, INPUT_SIZE), (MEAN, MEAN, MEAN), swapRB=True
        )
        self._net.setInput(blob)
        out = self._net.forward()
        return np.asarray(out, dtype=np.float32).reshape(FEATURES)
