"""Candidate regions: connected blobs of a cue's mask, with the cue's mean strength in each."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from envgrid_common.messages import DetectionKind
from envgrid_edge.camera.detector.views import Bool, Grey
from envgrid_edge.camera.events import Box


@dataclass(frozen=True)
class Region:
    """One blob a cue found in one frame (analysed-frame pixels)."""

    kind: DetectionKind
    box: Box
    area: int
    strength: float  # the cue's per-pixel value averaged over the blob, 0..1
    base: tuple[float, float] | None = None  # x, y where the blob meets the ground (its bottom)
    base_width: int | None = None  # how wide the blob is there

    @property
    def foot_width(self) -> int:
        """Width of the blob's lowest rows (the box's width if unknown)."""
        return self.box[2] if self.base_width is None else self.base_width

    @property
    def foot(self) -> tuple[float, float]:
        """The blob's base: the middle of its lowest rows (the box's bottom centre if unknown)."""
        if self.base is not None:
            return self.base
        x, y, w, h = self.box
        return (x + w / 2, float(y + h))


def find_regions(
    kind: DetectionKind, mask: Bool, strength: Grey, min_area: int, close: int = 5
) -> list[Region]:
    """Blobs of ``mask`` with at least ``min_area`` pixels, after closing small gaps."""
    raw = mask.astype(np.uint8)
    if close > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
        raw = np.asarray(cv2.morphologyEx(raw, cv2.MORPH_CLOSE, kernel), dtype=np.uint8)
    count, found, stats, _ = cv2.connectedComponentsWithStats(raw, connectivity=8)
    labels = np.asarray(found, dtype=np.int32)
    if count <= 1:
        return []
    sums = np.bincount(labels.ravel(), weights=strength.ravel(), minlength=count)
    regions = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < min_area:
            continue
        mean = float(sums[label]) / area
        strength_01 = min(1.0, max(0.0, mean))
        base, base_width = _base(labels, label, x, y, w, h)
        regions.append(Region(kind, (x, y, w, h), area, strength_01, base, base_width))
    return regions


def _base(
    labels: npt.NDArray[np.int32], label: int, x: int, y: int, w: int, h: int
) -> tuple[tuple[float, float], int]:
    """Middle and width of the blob's lowest rows: where a plume leaves the ground."""
    rows = max(2, h // 6)
    slab = labels[y + h - rows : y + h, x : x + w] == label
    xs = np.nonzero(slab)[1]
    if not xs.size:
        return (x + w / 2, float(y + h)), w
    return (float(xs.mean()) + x, float(y + h)), int(xs.max() - xs.min() + 1)


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area (1 when one box holds the other)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    return (iw * ih) / max(1, min(aw * ah, bw * bh))


def union(a: Box, b: Box) -> Box:
    """The smallest box holding both."""
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)
