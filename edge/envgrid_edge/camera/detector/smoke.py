"""Smoke cue: a greyish, soft change against the learned scene, and how the change moves.

Smoke adds light scattered by particles (airlight): it pulls colours toward grey and washes out
fine detail, so the local contrast (high-frequency energy over brightness) drops where it lies.
A shadow scales brightness and detail together and keeps that ratio; a vehicle adds sharp edges.
Whether a candidate rises from a fixed base is judged on its track (see the pipeline).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from envgrid_common.messages import DetectionKind
from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.regions import Region, find_regions
from envgrid_edge.camera.detector.views import Bool, Grey, Views
from envgrid_edge.camera.events import Box

# Local statistics are taken over this window (analysed pixels).
_WINDOW = 7
# Brightness offset in the contrast ratio, so dark corners do not look busy from noise.
_DARK = 16.0
# The background's contrast changes slowly: it is recomputed only every few frames.
_BACKGROUND_EVERY = 5


def local_contrast(grey: Grey) -> Grey:
    """High-frequency energy over local brightness: |Laplacian| averaged, divided by the mean."""
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=1))
    energy = cv2.blur(lap, (_WINDOW, _WINDOW))
    mean = cv2.blur(grey, (_WINDOW, _WINDOW))
    return np.asarray(energy / (mean + _DARK), dtype=np.float32)


def vertical_flow(
    before: Grey, after: Grey, where: Bool, min_change: float
) -> tuple[float, float] | None:
    """Median flow (dx, dy) in pixels from ``before`` to ``after`` over the pixels of ``where``
    that changed by at least ``min_change`` (a steady plume's still parts say nothing); None
    when too little changed to tell."""
    where = where & (np.abs(after - before) >= min_change)
    if before.shape[0] < 8 or before.shape[1] < 8 or np.count_nonzero(where) < 8:
        return None
    flow = np.asarray(
        cv2.calcOpticalFlowFarneback(
            before.astype(np.uint8),
            after.astype(np.uint8),
            None,  # type: ignore[call-overload]
            0.5,
            2,
            9,
            2,
            5,
            1.1,
            0,
        ),
        dtype=np.float32,
    )
    dx = float(np.median(flow[..., 0][where]))
    dy = float(np.median(flow[..., 1][where]))
    return dx, dy


def clamp_box(box: Box, width: int, height: int, margin: float = 0.1) -> tuple[slice, slice]:
    """Row and column slices of ``box`` widened by ``margin``, kept inside the frame."""
    x, y, w, h = box
    dx, dy = round(w * margin) + 2, round(h * margin) + 2
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
    return slice(y0, y1), slice(x0, x1)


class SmokeCue:
    """Finds smoke candidates: changed, greyish (on colour), and no sharper than the scene."""

    def __init__(self, config: DetectorConfig) -> None:
        self._config = config
        self._background_contrast: Grey | None = None
        self._saturation: Grey | None = None  # the scene's saturation, learned like its brightness
        self._last_at = 0.0
        self._frames = 0

    def reset(self) -> None:
        """Forget the scene's contrast and colour."""
        self._background_contrast = None
        self._saturation = None
        self._frames = 0

    def learn(self, views: Views, at: float, held: Bool | None) -> None:
        """Blend this frame's saturation into the scene's (``held`` pixels, candidates, slower)."""
        if views.hsv is None:
            self._saturation = None
            return
        saturation = views.hsv[..., 1].astype(np.float32)
        if self._saturation is None or self._saturation.shape != saturation.shape:
            self._saturation = saturation
        else:
            slow = 1.0 - math.exp(-max(at - self._last_at, 0.0) / self._config.background_tau_s)
            weight = np.float32(slow) if held is None else np.where(held, slow / 10, slow)
            self._saturation += (weight * (saturation - self._saturation)).astype(np.float32)
        self._last_at = at

    def mask(self, views: Views, background: Grey) -> Bool:
        """Pixels that look like smoke in this frame."""
        config = self._config
        if self._background_contrast is None or self._frames % _BACKGROUND_EVERY == 0:
            self._background_contrast = local_contrast(background)
        self._frames += 1
        changed = np.abs(views.grey - background) >= config.smoke_min_change
        contrast = local_contrast(views.grey)
        ceiling = np.maximum(
            self._background_contrast * config.smoke_soft_ratio, config.smoke_soft_floor
        )
        smoke = changed & (contrast <= ceiling) & views.look
        if views.hsv is not None:
            saturation = views.hsv[..., 1]
            greyish = saturation <= config.smoke_max_saturation
            if self._saturation is not None:
                # Airlight pulls colours toward grey: greyer than the scene counts (tinted light).
                greyish |= saturation <= self._saturation - config.smoke_min_desaturation
            smoke &= greyish
        return np.asarray(smoke, dtype=np.bool_)

    def regions(self, mask: Bool) -> list[Region]:
        """Blobs of smoke-like pixels big enough to matter and small enough not to be weather."""
        config = self._config
        opened = cv2.morphologyEx(
            mask.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        )
        min_area = max(4, math.ceil(config.smoke_min_area * mask.size))
        strength = np.ones(mask.shape, dtype=np.float32)
        return find_regions(DetectionKind.SMOKE, opened.astype(np.bool_), strength, min_area, 7)
