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
        for x, y, r, w in zip(
            xs.tolist(), ys.tolist(), radii.tolist(), weights.tolist(), strict=True
        ):
            radius = max(1, round(r))
            cx, cy = round(x), round(y)
            x0, y0 = cx - radius, cy - radius
            x1, y1 = cx + radius + 1, cy + radius + 1
            if w <= 0 or x1 <= 0 or y1 <= 0 or x0 >= cols or y0 >= rows:
                continue
            blob = self.kernel(radius)
            kx0, ky0 = max(0, -x0), max(0, -y0)
            kx1 = blob.shape[1] - max(0, x1 - cols)
            ky1 = blob.shape[0] - max(0, y1 - rows)
            field[max(0, y0) : min(rows, y1), max(0, x0) : min(cols, x1)] += (
                w * blob[ky0:ky1, kx0:kx1]
            )
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
