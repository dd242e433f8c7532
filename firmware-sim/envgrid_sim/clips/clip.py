"""A rendered clip: its timing and metadata, and its frames drawn lazily one by one."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from envgrid_sim.clips.layers import Layer
from envgrid_sim.clips.noise import Image, SensorNoise, name_seed
from envgrid_sim.clips.stage import LIGHTINGS, Scene, Stage, paint_scene

Build = Callable[[Scene, np.random.Generator], list[Layer]]


@dataclass(frozen=True, slots=True)
class ClipSpec:
    """One clip of the catalogue: what happens in it, when, and under which light."""

    name: str
    description: str
    lighting: str  # a key of LIGHTINGS: day, dusk, sunset, night-ir
    duration_s: float
    build: Build
    ignition_s: float | None = None  # when the burn starts (None: no fire in this clip)
    extinguished_s: float | None = None  # when it is put out

    @property
    def night_ir(self) -> bool:
        """Rendered as an infrared night camera sees it (greyscale, three equal channels)."""
        return LIGHTINGS[self.lighting].grey

    @property
    def burn(self) -> bool:
        """Whether the clip shows a fire."""
        return self.ignition_s is not None


class Clip:
    """A clip rendered at one size and rate; frame ``i`` shows the scene at ``i / fps`` seconds."""

    JITTER_PX = 1.0  # how far the camera shakes on its pole (pixels, at most about 1.4)

    def __init__(
        self,
        spec: ClipSpec,
        *,
        seed: int,
        size: tuple[int, int],
        fps: float,
        scene: str | None = None,
    ) -> None:
        width, height = size
        if width < 64 or height < 48:
            raise ValueError(f"clip size {width}×{height} is too small (at least 64×48)")
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.spec = spec
        self.name = spec.name
        self.seed = seed
        self.size = (width, height)
        self.fps = float(fps)
        self.duration_s = spec.duration_s
        self.ignition_s = spec.ignition_s
        self.extinguished_s = spec.extinguished_s
        self.night_ir = spec.night_ir
        self.stage = Stage(width, height)
        self.lighting = LIGHTINGS[spec.lighting]
        # The field (and the camera's grain and shake) and what happens in it have seeds of
        # their own: clips given one ``scene`` key happen in one field, as one camera sees it.
        field_rng = np.random.default_rng([*name_seed(scene or spec.name, seed), 1])
        self.scene = paint_scene(self.stage, self.lighting, field_rng)
        self._background = self.scene.background
        self._noise = SensorNoise(field_rng, (height, width), self.lighting.noise_sigma)
        self._shake = field_rng.uniform(0, 2 * math.pi, 4).tolist()
        self._layers = spec.build(
            self.scene, np.random.default_rng([*name_seed(spec.name, seed), 2])
        )

    @property
    def frame_count(self) -> int:
        """Frames in the clip."""
        return max(1, round(self.duration_s * self.fps))

    def frames(self) -> Iterator[Image]:
        """Every frame in order (BGR uint8, height × width × 3), drawn as it is asked for."""
        for index in range(self.frame_count):
            yield self.frame(index)

    def frame(self, index: int) -> Image:
        """Frame ``index`` (at ``index / fps`` seconds)."""
        return self.frame_at(index / self.fps)

    def frame_at(self, t: float) -> Image:
        """The scene at ``t`` seconds: the same ``t`` always gives the same image."""
        rng = np.random.default_rng([*name_seed(self.name, self.seed), 3, round(t * 1000)])
        canvas = self._background.copy()
        for layer in self._layers:
            layer.draw(canvas, t, rng)
        width, height = self.size
        margin = self.stage.margin
        a, b, c, d = self._shake
        dx = round(self.JITTER_PX * (math.sin(2.1 * t + a) + 0.4 * math.sin(7.3 * t + b)))
        dy = round(self.JITTER_PX * (math.sin(1.7 * t + c) + 0.4 * math.sin(6.1 * t + d)))
        top, left = margin + dy, margin + dx
        frame = self._noise.apply(
            np.ascontiguousarray(canvas[top : top + height, left : left + width]), rng
        )
        if self.night_ir:
            # An IR camera has one channel; OpenCV hands it over as three equal ones.
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            return np.asarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), np.uint8)
        return frame
