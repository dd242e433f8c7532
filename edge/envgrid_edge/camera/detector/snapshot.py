"""The evidence picture: a frame as a JPEG of bounded size."""

from __future__ import annotations

import cv2
import numpy as np

from envgrid_edge.camera.events import Frame


def encode_snapshot(frame: Frame, *, quality: int = 80, max_side: int = 640) -> bytes:
    """``frame`` as a JPEG, shrunk so that neither side exceeds ``max_side``."""
    height, width = frame.shape[:2]
    longest = max(height, width)
    if longest > max_side:
        size = (
            max(1, round(width * max_side / longest)),
            max(1, round(height * max_side / longest)),
        )
        frame = np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return data.tobytes()
