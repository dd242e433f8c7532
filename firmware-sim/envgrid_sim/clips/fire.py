"""Burning straw: a growing smoke plume anchored on the ground, and a flickering flame line."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from envgrid_sim.clips.layers import blend as _blend
from envgrid_sim.clips.layers import lit
from envgrid_sim.clips.noise import Field, Image
from envgrid_sim.clips.puffs import Floats, PuffLayer, PuffStream, emit, turbulence
from envgrid_sim.clips.stage import Lighting, Stage

GROWTH_S = 8.0  # from a wisp at ignition to a full plume
SMOULDER_S = 1.0  # smoke still given off after the fire is put out


@dataclass(frozen=True, slots=True)
class Burn:
    """When a fire burns: it grows after ``ignition_s`` and is put out at ``extinguished_s``."""

    ignition_s: float
    extinguished_s: float

    def strength(self, t: Floats) -> Floats:
        """How hard the fire burns at times ``t`` (0 before ignition and once smoke is gone)."""
        grow = np.clip((t - self.ignition_s) / GROWTH_S, 0.0, 1.0) ** 0.7
        after = np.exp(-np.maximum(t - self.extinguished_s, 0.0) / SMOULDER_S * 2.0)
        alive = (t >= self.ignition_s) & (t < self.extinguished_s + 3 * SMOULDER_S)
        return np.where(alive, np.maximum(grow, 0.12) * after, 0.0)

    def level(self, t: float) -> float:
        """:meth:`strength` at one time."""
        return float(self.strength(np.array([t]))[0])


SMOKE_DAY = (212.0, 214.0, 210.0)  # burning straw: whitish grey
SMOKE_FLAME = (172.0, 176.0, 178.0)  # above open flames: greyer


def smoke_plume(
    stage: Stage,
    lighting: Lighting,
    burn: Burn,
    rng: np.random.Generator,
    *,
    base_u: float,
    base_v: float,
    wind: float,
) -> PuffLayer:
    """A single plume rising from (``base_u``, ``base_v``), drifting with ``wind`` (−1..1)."""
    h = stage.height
    birth, strength = emit(rng, burn.ignition_s, burn.extinguished_s + 3, 16.0, burn.strength)
    n = birth.size
    width = 0.004 * h + 0.03 * h * strength
    stream = PuffStream(
        birth=birth,
        life=rng.uniform(6.5, 9.5, n),
        x0=stage.x(base_u) + rng.uniform(-1, 1, n) * width,
        y0=np.full(n, stage.y(base_v)) - rng.uniform(0, 0.01 * h, n),
        rise=rng.uniform(0.07, 0.11, n) * h,
        drift=(wind * rng.uniform(0.01, 0.022, n) + rng.normal(0, 0.005, n)) * h,
        radius=(0.012 + 0.02 * strength) * h,
        growth=rng.uniform(0.014, 0.026, n) * h,
        weight=rng.uniform(0.8, 1.3, n) * strength,
        phase=rng.uniform(0, 2 * math.pi, n),
        slowing=0.05,
        shear=2.5 / h,
        wobble=0.02 * h,
    )
    return PuffLayer(stage, stream, lit(SMOKE_DAY, lighting.ambient), turbulence(rng, stage))


@dataclass
class FlameLine:
    """A front of flames along a furrow, spreading after ignition, flickering at a few hertz."""

    stage: Stage
    lighting: Lighting
    burn: Burn
    start: tuple[float, float]  # canvas pixels of the first flame
    end: tuple[float, float]  # where the front has spread to when fully grown
    tongues: int
    seed_rows: Floats  # per tongue: position along the line, width, two frequencies, phases

    def draw(self, canvas: Image, t: float, rng: np.random.Generator) -> None:
        """Draw the flames at ``t`` (nothing outside the burn)."""
        level = self.burn.level(t)
        if t < self.burn.ignition_s or t >= self.burn.extinguished_s + 0.5 or level <= 0:
            return
        spread = min(1.0, 0.15 + (t - self.burn.ignition_s) / 15.0)
        h = self.stage.height
        heat = np.zeros(canvas.shape[:2], np.float32)
        box = [canvas.shape[1], canvas.shape[0], 0, 0]  # where flames were drawn
        (xa, ya), (xb, yb) = self.start, self.end
        for along, width, f1, f2, p1, p2 in self.seed_rows.tolist():
            if along > spread:
                continue
            x, y = xa + (xb - xa) * along, ya + (yb - ya) * along
            flicker = (
                0.55
                + 0.25 * math.sin(2 * math.pi * f1 * t + p1)
                + 0.15 * math.sin(2 * math.pi * f2 * t + p2)
                + 0.12 * float(rng.normal())
            )
            tall = 0.09 * h * (0.3 + 0.7 * level) * max(0.15, flicker) * (0.6 + 0.4 * width)
            wide = 0.016 * h * (0.6 + width)
            sway = 0.25 * tall * math.sin(2 * math.pi * f2 * 0.5 * t + p1)
            heat_level = 0.7 + 0.3 * max(0.0, flicker)
            tongue = np.array(
                [
                    (x - wide, y),
                    (x - wide * 0.55, y - tall * 0.45),
                    (x + sway, y - tall),
                    (x + wide * 0.55, y - tall * 0.45),
                    (x + wide, y),
                ]
            )
            cv2.fillPoly(heat, [np.round(tongue).astype(np.int32)], 0.5 * heat_level, cv2.LINE_AA)
            box = [
                min(box[0], int(x - wide * 1.3)),
                min(box[1], int(y - tall - 1)),
                max(box[2], int(x + wide * 1.3) + 1),
                max(box[3], int(y + wide) + 1),
            ]
            # The hotter inner core: lower and narrower than the tongue.
            core = np.array([x, y]) + (tongue - [x, y]) * [0.5, 0.55]
            cv2.fillPoly(heat, [np.round(core).astype(np.int32)], heat_level, cv2.LINE_AA)
            # The burning stubble at the foot of the tongue, wider as the fire takes hold.
            base = (round(wide * (0.5 + 0.7 * level)), max(1, round(wide * 0.3)))
            cv2.ellipse(heat, (round(x), round(y)), base, 0, 0, 360, 0.45 + 0.35 * level, -1)
        if box[2] > box[0]:
            _blend_flames(canvas, heat, (box[0], box[1], box[2], box[3]), self.lighting)


def _flame_palette() -> tuple[Image, Field]:
    """Colour and opacity for each heat level 0..255: deep orange at the edges, yellow, then
    near-white in the hottest core."""
    hot = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]
    orange = np.array((20, 110, 250), np.float32)
    yellow = np.array((120, 225, 255), np.float32)
    white = np.array((215, 248, 255), np.float32)
    colour = np.where(
        hot < 0.75,
        orange + (yellow - orange) * (hot / 0.75),
        yellow + (white - yellow) * ((hot - 0.75) / 0.25),
    )
    alpha = np.clip(hot[:, 0] * 2.2, 0.0, 1.0)
    return np.round(colour).astype(np.uint8), alpha.astype(np.float32)


_PALETTE, _OPACITY = _flame_palette()
_GLOW_SCALE = 4  # the glow is wide and soft: blurred on a coarser grid


def _blend_flames(
    canvas: Image, heat: Field, box: tuple[int, int, int, int], lighting: Lighting
) -> None:
    pad = 24  # room for the glow around the flames
    y0, y1 = max(0, box[1] - pad), min(heat.shape[0], box[3] + pad)
    x0, x1 = max(0, box[0] - pad), min(heat.shape[1], box[2] + pad)
    if x1 <= x0 or y1 <= y0:
        return
    core = cv2.GaussianBlur(heat[y0:y1, x0:x1], (5, 5), 0)
    level = np.clip(core * 255.0, 0, 255).astype(np.uint8)
    region = _blend(_PALETTE[level], canvas[y0:y1, x0:x1], _OPACITY[level])
    # The light of the flames on the ground and the smoke: stronger at dusk.
    gain = 60.0 if lighting.name == "day" else 120.0
    small = cv2.resize(
        core, None, fx=1 / _GLOW_SCALE, fy=1 / _GLOW_SCALE, interpolation=cv2.INTER_AREA
    )
    glow = cv2.GaussianBlur(small, (0, 0), 9.0 / _GLOW_SCALE)
    light = np.clip(glow[..., None] * np.array((0.25, 0.55, 1.0), np.float32) * gain, 0, 255)
    size = (region.shape[1], region.shape[0])
    lift = cv2.resize(light.astype(np.uint8), size, interpolation=cv2.INTER_LINEAR)
    canvas[y0:y1, x0:x1] = cv2.add(region, lift)


def flame_line(
    stage: Stage,
    lighting: Lighting,
    burn: Burn,
    rng: np.random.Generator,
    *,
    start_u: float,
    end_u: float,
    base_v: float,
    wind: float,
) -> tuple[FlameLine, PuffLayer]:
    """A flame front from ``start_u`` to ``end_u`` along row ``base_v``, and its smoke."""
    tongues = 28
    rows = np.column_stack(
        [
            np.sort(rng.uniform(0.0, 1.0, tongues)),
            rng.random(tongues),
            rng.uniform(2.0, 5.0, tongues),
            rng.uniform(5.0, 9.0, tongues),
            rng.uniform(0, 2 * math.pi, tongues),
            rng.uniform(0, 2 * math.pi, tongues),
        ]
    )
    slope = 0.03
    start = (stage.x(start_u), stage.y(base_v))
    end = (stage.x(end_u), stage.y(base_v + slope))
    flames = FlameLine(stage, lighting, burn, start, end, tongues, rows)
    h = stage.height
    birth, strength = emit(rng, burn.ignition_s, burn.extinguished_s + 3, 22.0, burn.strength)
    n = birth.size
    # Smoke rises from wherever the front has reached when the puff is born.
    reach = np.minimum(1.0, 0.15 + (birth - burn.ignition_s) / 15.0)
    along = rng.random(n) * reach
    stream = PuffStream(
        birth=birth,
        life=rng.uniform(6.0, 9.0, n),
        x0=start[0] + (end[0] - start[0]) * along,
        y0=start[1] + (end[1] - start[1]) * along - 0.04 * h * strength,
        rise=rng.uniform(0.055, 0.085, n) * h,
        drift=(wind * rng.uniform(0.02, 0.035, n) + rng.normal(0, 0.004, n)) * h,
        radius=np.full(n, 0.018 * h),
        growth=rng.uniform(0.012, 0.02, n) * h,
        weight=rng.uniform(0.8, 1.3, n) * strength,
        phase=rng.uniform(0, 2 * math.pi, n),
        slowing=0.06,
        shear=3.0 / h,
        wobble=0.012 * h,
    )
    smoke = PuffLayer(stage, stream, lit(SMOKE_FLAME, lighting.ambient), turbulence(rng, stage))
    return flames, smoke
