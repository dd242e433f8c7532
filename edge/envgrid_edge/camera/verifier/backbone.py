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
# The training pool's images were shrunk to at most this side with area interpolation; larger
# frames are shrunk the same way first, so the network sees what it was trained on (a direct
# bilinear resize of a 1280×720 frame to 224 would alias fine texture such as smoke edges).
LONGEST_SIDE = 640


class Backbone:
    """One loaded network; not thread-safe (cv2.dnn nets keep per-call state), one per worker."""

    def __init__(self, onnx_path: Path) -> None:
        self._net = cv2.dnn.readNetFromONNX(str(onnx_path))
        self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def features(self, bgr: Image) -> npt.NDArray[np.float32]:
        """The 1280 pooled activations for a BGR region of any size (stretched to 224 × 224)."""
        blob = cv2.dnn.blobFromImage(
            shrink(bgr), SCALE, (INPUT_SIZE, INPUT_SIZE), (MEAN, MEAN, MEAN), swapRB=True
        )
        self._net.setInput(blob)
        out = self._net.forward()
        return np.asarray(out, dtype=np.float32).reshape(FEATURES)


def shrink(bgr: Image) -> Image:
    """The image with its longest side at most LONGEST_SIDE (area interpolation, aspect kept)."""
    height, width = bgr.shape[:2]
    longest = max(height, width)
    if longest <= LONGEST_SIDE:
        return bgr
    size = (
        max(1, round(width * LONGEST_SIDE / longest)),
        max(1, round(height * LONGEST_SIDE / longest)),
    )
    return np.asarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
