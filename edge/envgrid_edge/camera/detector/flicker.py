"""Flicker: how often each pixel swings across its own recent mean (flames: a few times a second).

A passing object changes a pixel once or twice; a flame tip keeps it swinging. Swings smaller
than a deadband (sensor noise) are ignored, so a still scene scores zero.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt

from envgrid_edge.camera.detector.views import Grey


class FlickerMap:
    """Per pixel: sign changes around an exponential mean, counted over the last few frames."""

    def __init__(self, frames: int, deadband: float, mean_tau_s: float) -> None:
        self._frames = frames
        self._deadband = deadband
        self._mean_tau_s = mean_tau_s
        self._mean: Grey | None = None
        self._side: npt.NDArray[np.int8] | None = None
        self._ring: npt.NDArray[np.uint8] | None = None
        self._count: npt.NDArray[np.int16] | None = None
        self._times: deque[float] = deque(maxlen=frames + 1)
        self._slot = 0

    def reset(self) -> None:
        """Forget every pixel's history."""
        self._mean = None
        self._times.clear()

    def update(self, grey: Grey, at: float) -> None:
        """Take in one frame."""
        if self._mean is None or self._mean.shape != grey.shape:
            self._mean = grey.copy()
            self._side = np.zeros(grey.shape, dtype=np.int8)
            self._ring = np.zeros((self._frames, *grey.shape), dtype=np.uint8)
            self._count = np.zeros(grey.shape, dtype=np.int16)
            self._times.clear()
            self._times.append(at)
            self._slot = 0
            return
        assert self._side is not None
        assert self._ring is not None
        assert self._count is not None
        dev = grey - self._mean
        side = np.where(dev > self._deadband, 1, np.where(dev < -self._deadband, -1, self._side))
        side = side.astype(np.int8)
        crossed = ((side != self._side) & (self._side != 0)).astype(np.uint8)
        self._count += crossed.astype(np.int16) - self._ring[self._slot]
        self._ring[self._slot] = crossed
        self._slot = (self._slot + 1) % self._frames
        self._side = side
        dt = at - self._times[-1]
        self._mean += (1.0 - math.exp(-max(dt, 0.0) / self._mean_tau_s)) * dev
        self._times.append(at)

    def rate(self) -> Grey:
        """Sign changes per second over the window (zeros until two frames were seen)."""
        if self._count is None:
            return np.zeros((1, 1), dtype=np.float32)
        span = self._times[-1] - self._times[0] if len(self._times) >= 2 else 0.0
        if span <= 0:
            return np.zeros(self._count.shape, dtype=np.float32)
        return self._count.astype(np.float32) / np.float32(span)
