"""Photos taken with a phone, made small enough to keep with the case (a few hundred kB)."""

from __future__ import annotations

import cv2
import numpy as np

from envgrid_cloud.cases.errors import Invalid

MAX_SIDE = 1600  # pixels: enough to read a sign or a discharge pipe, small enough to store
JPEG_QUALITY = 82
MAX_UPLOAD = 25 * 1024 * 1024  # what a phone camera may send before it is shrunk


def shrink_photo(data: bytes, name: str) -> tuple[bytes, str]:
    """The photo as a JPEG no larger than :data:`MAX_SIDE` a side, and its new name.

    Blocking (decoding a 12-megapixel photo takes a tenth of a second): call it off the loop.
    """
    if len(data) > MAX_UPLOAD:
        raise Invalid(f"{name}: {len(data)} bytes is more than a photo of {MAX_UPLOAD} bytes")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise Invalid(f"{name}: not a photo this desk can read (JPEG, PNG, WebP, BMP)")
    height, width = image.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise Invalid(f"{name}: could not be saved as JPEG")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return encoded.tobytes(), f"{stem or 'photo'}.jpg"
