"""Flame cue: pixels that are flame-coloured (or, on IR, bright) and keep flickering.

Colour alone flags sunsets, red vehicles and lamps; flicker alone flags foliage in the wind.
Together, held for a while at one place, they are what a flame looks like to a camera.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from envgrid_common.messages import DetectionKind
from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.regions import Region, find_regions
from envgrid_edge.camera.detector.views import Bool, Grey, Views

# A pixel counts as flame-coloured "recently" while this share of recent frames were.
_RECENT = 0.2
_RECENT_TAU_S = 1.0
# The neighbourhood (analysed pixels) a flame must outshine in the learned scene.
_AROUND = np.ones((3, 3), np.uint8)


def flame_colour(views: Views, background: Grey, config: DetectorConfig) -> Bool:
    """Brighter than the scene (a flame gives light); warm by day, very bright on IR.

    Brighter than the brightest of the scene's pixels around it: where a shaking camera moves
    a dark pole off a bright sky, the sky it shows was next door before, so it does not count.
    """
    around = cv2.dilate(background, _AROUND)
    luminous = views.grey - around >= config.flame_min_rise
    if views.infrared:
        return luminous & (views.grey >= config.flame_ir_min_brightness)
    b, g, r = (views.bgr[..., i].astype(np.int16) for i in range(3))
    warm = (r >= config.flame_min_red) & (r >= g) & (g >= b) & (r - b >= config.flame_min_warmth)
    return np.asarray(luminous & warm, dtype=np.bool_)


def flicker_strength(rate: Grey, config: DetectorConfig) -> Grey:
    """Flicker rate mapped to 0..1 (0 at the minimum rate, 1 at the full rate)."""
    span = config.flicker_full_rate - config.flicker_min_rate
    scaled = (rate - config.flicker_min_rate) / span
    return np.asarray(np.clip(0.5 + 0.5 * scaled, 0.0, 1.0), dtype=np.float32)


class FlameCue:
    """Finds flame candidates; remembers which pixels were flame-coloured lately."""

    def __init__(self, config: DetectorConfig) -> None:
        self._config = config
        self._recent: Grey | None = None
        self._last_at = 0.0

    def reset(self) -> None:
        """Forget the recent colours."""
        self._recent = None

    def observe(self, views: Views, background: Grey, at: float) -> Bool:
        """Take in this frame's colours; the pixels flame-coloured in recent frames."""
        colour = flame_colour(views, background, self._config) & views.look
        if self._recent is None or self._recent.shape != colour.shape:
            self._recent = colour.astype(np.float32)
        else:
            weight = 1.0 - math.exp(-max(at - self._last_at, 0.0) / _RECENT_TAU_S)
            self._recent += np.float32(weight) * (colour.astype(np.float32) - self._recent)
        self._last_at = at
        return np.asarray(self._recent >= _RECENT, dtype=np.bool_)

    def regions(self, recent: Bool, rate: Grey) -> list[Region]:
        """Blobs of recently flame-coloured pixels that flicker at least at the minimum rate."""
        config = self._config
        mask = recent & (rate >= config.flicker_min_rate)
        if not mask.any():
            return []
        min_area = max(2, math.ceil(config.flame_min_area * mask.size))
        strength = flicker_strength(rate, config)
        return find_regions(DetectionKind.FLAME, mask, strength, min_area, close=5)
