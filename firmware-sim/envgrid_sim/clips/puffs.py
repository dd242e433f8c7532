"""Streams of puffs (smoke, dust): particles born over time, each moving on a fixed path.

Every particle's path is a function of its age, so any frame can be drawn on its own: clips
are random-access and two renders with one seed give the same frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from envgrid_sim.clips.layers import composite
from envgrid_sim.clips.noise import Field, Image, Splatter, fractal_noise, tileable
from envgrid_sim.clips.stage import Stage

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PuffStream:
    """Particles born at ``birth`` from (``x0``, ``y0``) (canvas pixels), each with its motion."""

    birth: Floats
    life: Floats
    x0: Floats
    y0: Floats
    rise: Floats  # pixels per second upwards at birth
    drift: Floats  # pixels per second sideways (wind), growing with height for smoke
    radius: Floats  # at birth, pixels
    growth: Floats  # pixels of radius per second of age
    weight: Floats  # peak density
    phase: Floats  # of the sideways wobble
    slowing: float  # how fast the rise slows with age (per second)
    shear: float  # how much the drift grows with height (per pixel of rise)
    wobble: float  # amplitude of the sideways wobble, pixels

    def at(self, t: float) -> tuple[Floats, Floats, Floats, Floats]:
        """Positions, radii and densities of the particles alive at ``t``."""
        age = t - self.birth
        alive = (age >= 0) & (age < self.life) & (self.weight > 0)
        age = age[alive]
        rise = self.rise[alive] * age / (1.0 + self.slowing * age)
        xs = (
            self.x0[alive]
            + self.drift[alive] * age * (1.0 + self.shear * rise)
            + self.wobble * np.sin(self.phase[alive] + 1.7 * age) * np.minimum(1.0, age)
        )
        ys = self.y0[alive] - rise
        radii = self.radius[alive] + self.growth[alive] * age
        fade_in = np.minimum(1.0, age / 0.6)
        fade_out = np.clip(1.0 - age / self.life[alive], 0.0, 1.0) ** 1.5
        return xs, ys, radii, self.weight[alive] * fade_in * fade_out

    def density(self, splatter: Splatter, scale: int, t: float) -> Field:
        """The stream's density at ``t`` on ``splatter``'s coarse grid."""
        xs, ys, radii, weights = self.at(t)
        # Splats are in field pixels; a bigger splat is spread thinner so mass stays the same.
        field_r = np.maximum(radii / scale, 1.0)
        return splatter.render(xs / scale, ys / scale, field_r, weights * 4.0 / (field_r + 3.0))


def emit(
    rng: np.random.Generator,
    start: float,
    stop: float,
    rate: float,
    strength: Callable[[Floats], Floats],
) -> tuple[Floats, Floats]:
    """Birth times at ``rate`` per second between ``start`` and ``stop`` with their strengths."""
    count = max(0, int((stop - start) * rate))
    birth = start + (np.arange(count) + rng.random(count)) / rate
    return birth, strength(birth)


def turbulence(rng: np.random.Generator, stage: Stage) -> Field:
    """A noise texture twice as tall as a density field, for puffs to roll through."""
    rows, cols = stage.field_shape
    return tileable(fractal_noise(rng, (rows * 2, cols), 4, coarsest=10))


@dataclass
class PuffLayer:
    """A stream of puffs drawn as smoke or dust: soft, textured, the texture rolling upwards."""

    stage: Stage
    stream: PuffStream
    colour: tuple[float, float, float]
    texture: Field
    opacity: float = 0.92
    mask: Field | None = None  # on the coarse grid: where the puffs may show (the sky for clouds)
    rise_speed: float = 0.06  # how fast the texture rolls up, in frame heights per second

    def __post_init__(self) -> None:
        self._splatter = Splatter(self.stage.field_shape)

    def draw(self, canvas: Image, t: float, rng: np.random.Generator) -> None:
        """Blend the puffs alive at ``t`` over ``canvas``."""
        scale = self.stage.scale
        density = self.stream.density(self._splatter, scale, t)
        if not density.any():
            return
        rows = density.shape[0]
        # Two copies of the texture scrolling at different speeds: the pattern keeps changing.
        shift = int(t * self.rise_speed * self.stage.height / scale)
        first = np.roll(self.texture, -shift, axis=0)[:rows]
        second = np.roll(self.texture[::-1, ::-1], -shift // 2 + 7, axis=0)[:rows]
        turbulence = 0.35 + 0.9 * first * second * 2.0
        alpha = self.opacity * (1.0 - np.exp(-density * turbulence))
        if self.mask is not None:
            alpha *= self.mask
        shade = (0.86 + 0.22 * first)[..., None] * np.array(self.colour, np.float32)
        composite(canvas, alpha.astype(np.float32), scale, shade.astype(np.float32))
