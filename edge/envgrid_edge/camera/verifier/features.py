"""Handcrafted colour, texture and edge features of an image region, for the learned head.

Everything is computed on the region resized to a fixed square, so the vector has the same length
and meaning for a whole frame and for a small candidate box.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from envgrid_edge.camera.verifier.colour import Image, flame_mask, smoke_mask

SIDE = 128
HUE_BINS = 12
LEVEL_BINS = 4
# Pixels this saturated and bright carry a meaningful hue.
HUE_MIN_SAT = 40
HUE_MIN_VALUE = 40
# 8-neighbour binary-pattern histogram: bits set 0..8, plus the share of non-uniform patterns.
LBP_BINS = 10
# Below this gradient magnitude a pixel counts as soft (smoke blurs what is behind it).
SOFT_GRADIENT = 12.0

FeatureVector = npt.NDArray[np.float32]


def square(bgr: Image) -> Image:
    """The region resized to SIDE × SIDE (area interpolation: a fair average when shrinking)."""
    return np.asarray(cv2.resize(bgr, (SIDE, SIDE), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def handcrafted(bgr: Image) -> FeatureVector:
    """The feature vector of a BGR region of any size (at least 1 × 1)."""
    img = square(bgr)
    grey: Image = np.asarray(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    parts = [
        _colour(img),
        _rules(img),
        _texture(grey),
        _edges(grey),
        _layout(grey),
    ]
    return np.concatenate(parts).astype(np.float32)


def _colour(img: Image) -> npt.NDArray[np.float64]:
    """Hue histogram of coloured pixels, saturation and value histograms, YCrCb and HSV moments."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    coloured = (s >= HUE_MIN_SAT) & (v >= HUE_MIN_VALUE)
    n = float(h.size)
    hue = np.bincount((h[coloured].astype(np.int32) * HUE_BINS) // 180, minlength=HUE_BINS) / n
    sat = np.bincount(s.ravel().astype(np.int32) * LEVEL_BINS // 256, minlength=LEVEL_BINS) / n
    val = np.bincount(v.ravel().astype(np.int32) * LEVEL_BINS // 256, minlength=LEVEL_BINS) / n
    ycrcb = cv2.cvtColor(img, cv2.COLOR_BGR2YCrCb).reshape(-1, 3).astype(np.float64) / 255.0
    hsv_f = np.stack([s.ravel(), v.ravel()], axis=1).astype(np.float64) / 255.0
    moments = np.concatenate([ycrcb.mean(0), ycrcb.std(0), hsv_f.mean(0), hsv_f.std(0)])
    return np.concatenate([hue[:HUE_BINS], sat, val, moments])


def _rules(img: Image) -> npt.NDArray[np.float64]:
    """Flame-rule and smoke-rule fractions, and the flame fraction among bright pixels."""
    flame = flame_mask(img)
    smoke = smoke_mask(img)
    bright = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) > 200
    flame_of_bright = float((flame & bright).sum()) / max(1.0, float(bright.sum()))
    return np.array([flame.mean(), smoke.mean(), flame_of_bright])


def _texture(grey: Image) -> npt.NDArray[np.float64]:
    """Local binary patterns: how many neighbours are brighter; how often the pattern is ragged."""
    g = grey.astype(np.int16)
    centre = g[1:-1, 1:-1]
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    bits = [
        (g[1 + dy : g.shape[0] - 1 + dy, 1 + dx : g.shape[1] - 1 + dx] >= centre).astype(np.int8)
        for dy, dx in offsets
    ]
    ones = np.sum(bits, axis=0)
    transitions = np.sum([np.abs(bits[i] - bits[(i + 1) % 8]) for i in range(8)], axis=0)
    hist = np.bincount(ones.ravel(), minlength=9)[:9] / ones.size
    ragged = float((transitions > 2).mean())
    return np.concatenate([hist, [ragged]])


def _edges(grey: Image) -> npt.NDArray[np.float64]:
    """Edge density, gradient strength and spread, softness, and sharpness (Laplacian variance)."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.magnitude(gx, gy)
    canny = cv2.Canny(grey, 100, 200)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    return np.array(
        [
            float((canny > 0).mean()),
            float(mag.mean()) / 255.0,
            float(mag.std()) / 255.0,
            float((mag < SOFT_GRADIENT).mean()),
            float(np.log1p(lap.var())) / 10.0,
        ]
    )


def _layout(grey: Image) -> npt.NDArray[np.float64]:
    """Brightness of the top and bottom halves and contrast (sky over ground, glare)."""
    half = grey.shape[0] // 2
    top = grey[:half].astype(np.float64) / 255.0
    bottom = grey[half:].astype(np.float64) / 255.0
    return np.array([top.mean(), bottom.mean(), float(grey.std()) / 255.0])
