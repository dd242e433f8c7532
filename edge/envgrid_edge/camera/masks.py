"""Where the detector may look: the node file's ignore polygons drawn at the analysed size."""

from __future__ import annotations

import cv2
import numpy as np

from envgrid_edge.camera.config import MaskConfig
from envgrid_edge.camera.events import Mask

LOOK = 255
IGNORE = 0


def build_mask(
    config: MaskConfig, source_size: tuple[int, int], analysis_size: tuple[int, int]
) -> Mask:
    """A uint8 mask at ``analysis_size`` (width, height): 255 to look, 0 inside an ignore polygon.

    Fractions are of the frame's width and height; pixels are of the camera's own frames
    (``source_size``), scaled to the analysed size.
    """
    width, height = analysis_size
    mask = np.full((height, width), LOOK, dtype=np.uint8)
    if config.units == "fraction":
        sx, sy = float(width), float(height)
    else:
        sx, sy = width / source_size[0], height / source_size[1]
    for polygon in config.ignore:
        points = np.array(
            [[round(x * sx), round(y * sy)] for x, y in polygon.points], dtype=np.int32
        )
        cv2.fillPoly(mask, [points], IGNORE)
    return mask


def looked_at(mask: Mask) -> float:
    """The share of the frame the detector may look at (0..1)."""
    return float(np.count_nonzero(mask)) / mask.size if mask.size else 0.0
