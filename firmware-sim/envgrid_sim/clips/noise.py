"""Deterministic noise textures and soft splats, the raw material of every synthetic clip."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Field = npt.NDArray[np.float32]


def name_seed(name: str, seed: int) -> list[int]:
    """A seed sequence for one clip: stable across runs (crc32, not Python's salted hash)."""
    return [seed, zlib.crc32(name.encode("utf-8"))]


def fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], octaves: int = 4, coarsest: int = 4
) -> Field:
    """Smooth noise in [0, 1] of ``shape`` (rows, cols): octaves of upsampled random grids,
    the coarsest with ``coarsest`` cells down the shorter side."""
    rows, cols = shape
    total = np.zeros(shape, np.float32)
    weight_sum = 0.0
    for octave in range(octaves):
        cells = coarsest * 2**octave
        grid_shape = (
            max(2, cells * rows // min(rows, cols)),
            max(2, cells * cols // min(rows, cols)),
        )
        grid = rng.random(grid_shape).astype(np.float32)
        layer = cv2.resize(grid, (cols, rows), interpolation=cv2.INTER_CUBIC)
        weight = 0.5**octave
        total += weight * layer
        weight_sum += weight
    total /= weight_sum
    low, high = float(total.min()), float(total.max())
    return ((total - low) / max(high - low, 1e-6)).astype(np.float32)


def tileable(texture: Field) -> Field:
    """``texture`` made seamless when rolled: each axis cross-faded with itself shifted by half.

    Where one copy jumps (its own edges) its weight is zero, so no seam shows anywhere.
    """
    out = texture
    for axis in (0, 1):
        size = out.shape[axis]
        shape = [1, 1]
        shape[axis] = size
        weight = np.sin(np.pi * np.arange(size, dtype=np.float32) / size).reshape(shape) ** 2
        out = out * weight + np.roll(out, size // 2, axis=axis) * (1.0 - weight)
    low, high = float(out.min()), float(out.max())
    return ((out - low) / max(high - low, 1e-6)).astype(np.float32)


class Splatter:
    """Adds soft round puffs (Gaussian splats) into a density field; kernels are cached."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self._kernels: dict[int, Field] = {}

    def kernel(self, radius: int) -> Field:
        """A Gaussian blob of ``2·radius+1`` pixels, 1 at the centre."""
        if radius not in self._kernels:
            axis = np.arange(-radius, radius + 1, dtype=np.float32)
            sigma = max(radius / 2.0, 0.5)
            blob = np.exp(-(axis[None, :] ** 2 + axis[:, None] ** 2) / (2 * sigma * sigma))
            self._kernels[radius] = blob.astype(np.float32)
        return self._kernels[radius]

    def render(
        self,
        xs: npt.NDArray[np.float64],
        ys: npt.NDArray[np.float64],
        radii: npt.NDArray[np.float64],
        weights: npt.NDArray[np.float64],
    ) -> Field:
        """A density field with one splat per (x, y, radius, weight), in field pixels."""
        rows, cols = self.shape
        field = np.zeros(self.shape, np.float32)
        # Bounds of every splat and of its kernel, clipped to the field, computed at once.
        radius = np.maximum(1, np.round(radii)).astype(np.int64)
        x0 = np.round(xs).astype(np.int64) - radius
        y0 = np.round(ys).astype(np.int64) - radius
        x1, y1 = x0 + 2 * radius + 1, y0 + 2 * radius + 1
        keep = (weights > 0) & (x1 > 0) & (y1 > 0) & (x0 < cols) & (y0 < rows)
        kx0, ky0 = np.maximum(0, -x0), np.maximum(0, -y0)
        kx1 = 2 * radius + 1 - np.maximum(0, x1 - cols)
        ky1 = 2 * radius + 1 - np.maximum(0, y1 - rows)
        fx0, fy0 = np.maximum(0, x0), np.maximum(0, y0)
        fx1, fy1 = np.minimum(cols, x1), np.minimum(rows, y1)
        columns = [a[keep].tolist() for a in (radius, fx0, fy0, fx1, fy1, kx0, ky0, kx1, ky1)]
        for r, a, b, c, d, ka, kb, kc, kd, w in zip(*columns, weights[keep].tolist(), strict=True):
            field[b:d, a:c] += w * self.kernel(r)[kb:kd, ka:kc]
        return field


class SensorNoise:
    """A bank of pre-drawn noise frames, added with saturation: fast per-frame grain."""

    SLACK = 32  # extra rows and columns, so each frame takes its grain from another offset

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> None:
        rows, cols = shape
        bank = rng.normal(0.0, sigma, (3, rows + self.SLACK, cols + self.SLACK, 3))
        self._shape = shape
        self._up = [np.clip(n, 0, 255).astype(np.uint8) for n in bank]
        self._down = [np.clip(-n, 0, 255).astype(np.uint8) for n in bank]

    def apply(self, image: Image, rng: np.random.Generator) -> Image:
        """``image`` with grain from a bank frame and offset that ``rng`` picks."""
        rows, cols = self._shape
        first, second = rng.integers(0, len(self._up), 2).tolist()
        y0, x0, y1, x1 = rng.integers(0, self.SLACK, 4).tolist()
        up = self._up[first][y0 : y0 + rows, x0 : x0 + cols]
        down = self._down[second][y1 : y1 + rows, x1 : x1 + cols]
        return np.asarray(cv2.subtract(cv2.add(image, up), down), np.uint8)
