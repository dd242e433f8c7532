"""Which frames are analysed, and at what size: the rate and resolution of the node file."""

from __future__ import annotations

from typing import cast

import cv2

from envgrid_edge.camera.config import AnalysisConfig
from envgrid_edge.camera.events import Frame

# Frame times jitter (a stream's clock, rounding of a file's timestamps): a frame this much
# early still counts as on time, or a 25 fps source analysed at 5/s would slip a frame a beat.
_EARLY_S = 0.005


def analysis_size(config: AnalysisConfig, source_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) the detector sees: ``width`` wide, never larger than the source."""
    source_w, source_h = source_size
    if config.height is not None:
        if config.width >= source_w and config.height >= source_h:
            return source_w, source_h
        return config.width, config.height
    if config.width >= source_w:
        return source_w, source_h
    return config.width, max(1, round(config.width * source_h / source_w))


def resize(frame: Frame, size: tuple[int, int]) -> Frame:
    """``frame`` at ``size`` (width, height), area-averaged when shrinking."""
    height, width = frame.shape[:2]
    if (width, height) == size:
        return frame
    shrink = size[0] < width
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cast(Frame, cv2.resize(frame, size, interpolation=method))


class Sampler:
    """Picks frames to analyse at ``rate_fps`` of the source's own time, skipping the rest."""

    def __init__(self, rate_fps: float) -> None:
        self.period_s = 1.0 / rate_fps
        self._due: float | None = None

    def want(self, at: float) -> bool:
        """Whether the frame taken at ``at`` seconds is due for analysis (and book it if so)."""
        if self._due is not None and at < self._due - _EARLY_S:
            return False
        if self._due is None or at - self._due >= self.period_s:
            # The first frame, or a gap (a reconnect, a slow source): start again from here.
            self._due = at + self.period_s
        else:
            self._due += self.period_s
        return True
