"""What a clip is made of: layers drawn over the field, and how a soft layer is blended in."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from envgrid_sim.clips.noise import Field, Image
from envgrid_sim.clips.stage import BGR


class Layer(Protocol):
    """Something drawn over the field at time ``t`` (smoke, a vehicle, fog…), in place."""

    def draw(self, canvas: Image, t: float, rng: np.random.Generator) -> None:
        """Draw at ``t`` seconds; ``rng`` is this frame's own generator."""


def composite(canvas: Image, alpha: Field, scale: int, colour: BGR | Field) -> None:
    """Blend ``colour`` over ``canvas`` where a coarse ``alpha`` field says, only in its box.

    ``alpha`` and a per-pixel ``colour`` are ``scale`` times coarser than the canvas; they are
    upsampled (which also softens their edges) only over the region where alpha is visible.
    """
    rows, cols = np.nonzero(alpha > 0.004)
    if rows.size == 0:
        return
    y0, y1 = max(0, int(rows.min()) - 1), min(alpha.shape[0], int(rows.max()) + 2)
    x0, x1 = max(0, int(cols.min()) - 1), min(alpha.shape[1], int(cols.max()) + 2)
    top, left = y0 * scale, x0 * scale
    height = min(canvas.shape[0], y1 * scale) - top
    width = min(canvas.shape[1], x1 * scale) - left
    size = ((x1 - x0) * scale, (y1 - y0) * scale)
    big = cv2.resize(alpha[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR)
    weight = np.ascontiguousarray(np.clip(big[:height, :width], 0.0, 1.0), np.float32)
    region = canvas[top : top + height, left : left + width]
    if isinstance(colour, tuple):
        paint = np.empty_like(region)
        paint[:] = np.round(colour).astype(np.uint8)
    else:
        patch = cv2.resize(colour[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR)
        paint = np.ascontiguousarray(np.clip(patch[:height, :width], 0, 255).astype(np.uint8))
    canvas[top : top + height, left : left + width] = blend(paint, region, weight)


def blend(paint: Image, under: Image, weight: Field) -> Image:
    """``paint`` over ``under`` with per-pixel opacity ``weight`` (0..1), in one OpenCV call."""
    under = np.ascontiguousarray(under)
    return np.asarray(cv2.blendLinear(paint, under, weight, 1.0 - weight), np.uint8)


def lit(colour: BGR, ambient: BGR) -> BGR:
    """A daylight colour as the scene's light shows it."""
    return (colour[0] * ambient[0], colour[1] * ambient[1], colour[2] * ambient[2])
