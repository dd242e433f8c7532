"""The cheap motion gate: a slow background of the scene and a fast one of what moves now."""

from __future__ import annotations

import math

import cv2
import numpy as np

from envgrid_edge.camera.detector.views import Bool, Grey

# Inside a candidate the scene is learned this many times slower, so a plume is not absorbed.
_HELD_SLOWDOWN = 10.0
# The motion gate compares cells of this many pixels a side.
_CELL = 4


def _alpha(dt: float, tau: float) -> float:
    """The weight of a new sample in an exponential average with time constant ``tau``."""
    return 1.0 - math.exp(-max(dt, 0.0) / tau)


class MotionGate:
    """Learns the scene; says where and how much the frame moved since the recent past."""

    def __init__(self, background_tau_s: float, motion_tau_s: float, threshold: float) -> None:
        self._background_tau_s = background_tau_s
        self._motion_tau_s = motion_tau_s
        self._threshold = threshold
        self.background: Grey | None = None
        self._recent: Grey | None = None
        self._last_at = 0.0
        self.age_s = 0.0

    def reset(self) -> None:
        """Forget the scene (the source changed)."""
        self.background = None
        self._recent = None
        self.age_s = 0.0

    def moving(self, grey: Grey, look: Bool) -> float:
        """The share of looked-at cells that differ from the recent past.

        Judged on a coarse grid (cells of ``_CELL`` pixels): a camera shaking by a pixel moves
        every sharp edge but hardly changes a cell's mean, while anything real still does."""
        if self._recent is None:
            return 0.0
        size = (max(1, grey.shape[1] // _CELL), max(1, grey.shape[0] // _CELL))
        now = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        before = cv2.resize(self._recent, size, interpolation=cv2.INTER_AREA)
        cells = cv2.resize(look.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        moved = (np.abs(now - before) > self._threshold) & cells
        looked = int(np.count_nonzero(cells))
        return (int(np.count_nonzero(moved)) / looked) if looked else 0.0

    def learn(self, grey: Grey, at: float, held: Bool | None = None) -> None:
        """Blend ``grey`` into both backgrounds; ``held`` pixels (candidates) learn slower."""
        if self.background is None or self._recent is None:
            self.background = grey.copy()
            self._recent = grey.copy()
            self._last_at = at
            return
        dt = at - self._last_at
        self._last_at = at
        self.age_s += max(dt, 0.0)
        self._recent += _alpha(dt, self._motion_tau_s) * (grey - self._recent)
        slow = _alpha(dt, self._background_tau_s)
        if held is None:
            self.background += slow * (grey - self.background)
        else:
            weight = np.where(held, slow / _HELD_SLOWDOWN, slow).astype(np.float32)
            self.background += weight * (grey - self.background)
