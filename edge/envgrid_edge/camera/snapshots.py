"""The evidence JPEG as it goes on the wire: a JPEG, and no heavier than the node file allows."""

from __future__ import annotations

import logging
from typing import cast

import cv2
import numpy as np

from envgrid_edge.camera.config import SnapshotConfig
from envgrid_edge.camera.events import Frame

log = logging.getLogger("envgrid.edge.camera.snapshot")

_JPEG_MAGIC = b"\xff\xd8"
_LOWEST_QUALITY = 40
_QUALITY_STEP = 10
_SHRINK = 0.75


def encode_jpeg(frame: Frame, quality: int) -> bytes:
    """``frame`` as JPEG bytes at ``quality``."""
    ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return bytes(buffer.tobytes())


def fit_snapshot(image: bytes, config: SnapshotConfig) -> bytes | None:
    """``image`` as a JPEG of at most ``max_kb``: as it is if it fits, else re-encoded.

    Quality goes down first (to 40), then the size, so the picture stays whole; None if the
    bytes are no image at all.
    """
    if image.startswith(_JPEG_MAGIC) and len(image) <= config.max_bytes:
        return image
    decoded = cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        log.warning("the detector's snapshot (%d bytes) is not an image; not sent", len(image))
        return None
    frame = cast(Frame, decoded)
    quality = config.quality
    while True:
        jpeg = encode_jpeg(frame, quality)
        if len(jpeg) <= config.max_bytes:
            return jpeg
        if quality > _LOWEST_QUALITY:
            quality = max(_LOWEST_QUALITY, quality - _QUALITY_STEP)
            continue
        height, width = frame.shape[:2]
        if min(height, width) < 16:
            return jpeg  # cannot get smaller in any useful way; max_kb is at least 8 KiB
        size = (max(1, round(width * _SHRINK)), max(1, round(height * _SHRINK)))
        frame = cast(Frame, cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
