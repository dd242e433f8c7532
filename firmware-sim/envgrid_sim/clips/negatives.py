"""Look-alikes a straw-burning detector must ignore: clouds, shadows, lamps, red paint, fog, dust,
a sunset."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from envgrid_sim.clips.layers import Layer, composite, lit
from envgrid_sim.clips.noise import Field, Image, Splatter
from envgrid_sim.clips.puffs import Floats, PuffLayer, PuffStream, emit, turbulence
from envgrid_sim.clips.stage import BGR, ROAD_V, Scene, Stage


@dataclass
class Clouds:
    """Cumulus clouds (or their shadows) drifting sideways, wrapping round the frame."""

    stage: Stage
    centres: Floats  # cloud × (u, v) in frame units at t = 0
    puffs: Floats  # cloud × puff × (du, dv, radius, weight, phase), frame heights
    speed: float  # frame widths per second
    colour: BGR
    opacity: float
    mask: Field | None

    def __post_init__(self) -> None:
        self._splatter = Splatter(self.stage.field_shape)

    def draw(self, canvas: Image, t: float, rng: np.random.Generator) -> None:
        """Blend the clouds at ``t``."""
        stage, h = self.stage, self.stage.height
        span = 1.0 + 0.8  # a cloud leaves on one side and comes back on the other
        xs, ys, radii, weights = [], [], [], []
        for (u, v), puffs in zip(self.centres.tolist(), self.puffs, strict=True):
            u = (u + self.speed * t + 0.4) % span - 0.4
            for du, dv, radius, weight, phase in puffs.tolist():
                xs.append(stage.x(u) + du * h)
                ys.append(stage.y(v) + dv * h)
                # Clouds change shape slowly as they go.
                radii.append(radius * h * (1.0 + 0.15 * math.sin(0.2 * t + phase)))
                weights.append(weight)
        scale = stage.scale
        field_r = np.maximum(np.array(radii) / scale, 1.0)
        density = self._splatter.render(
            np.array(xs) / scale, np.array(ys) / scale, field_r, np.array(weights)
        )
        alpha = self.opacity * (1.0 - np.exp(-density * 1.6))
        if self.mask is not None:
            alpha *= self.mask
        composite(canvas, alpha.astype(np.float32), scale, self.colour)


def _cloud_set(
    rng: np.random.Generator, count: int, v_range: tuple[float, float], size: float, flat: float
) -> tuple[Floats, Floats]:
    centres = np.column_stack([rng.uniform(-0.3, 1.3, count), rng.uniform(*v_range, count)])
    puffs = np.stack(
        [
            np.column_stack(
                [
                    rng.normal(0, 0.12 * size, 12),
                    np.abs(rng.normal(0, 0.03 * size * flat, 12)) * -1,
                    rng.uniform(0.04, 0.08, 12) * size,
                    rng.uniform(0.5, 0.9, 12),
                    rng.uniform(0, 2 * math.pi, 12),
                ]
            )
            for _ in range(count)
        ]
    )
    return centres, puffs


def clouds(scene: Scene, rng: np.random.Generator) -> list[Layer]:
    """White clouds drifting across the sky, some low over the treeline."""
    centres, puffs = _cloud_set(rng, 6, (0.05, 0.33), 1.0, 1.0)
    colour = lit((246.0, 246.0, 244.0), scene.lighting.ambient)
    return [Clouds(scene.stage, centres, puffs, rng.uniform(0.012, 0.02), colour, 0.9, scene.sky)]


def shadows(scene: Scene, rng: np.random.Generator) -> list[Layer]:
    """Clouds overhead and the shadows they cast sweeping over the field."""
    sky_centres, sky_puffs = _cloud_set(rng, 4, (0.05, 0.3), 0.9, 1.0)
    speed = rng.uniform(0.02, 0.03)
    colour = lit((246.0, 246.0, 244.0), scene.lighting.ambient)
    shade_centres, shade_puffs = _cloud_set(rng, 4, (0.5, 0.95), 2.4, 2.5)
    field_mask = 1.0 - scene.sky
    return [
        Clouds(scene.stage, sky_centres, sky_puffs, speed, colour, 0.85, scene.sky),
        Clouds(
            scene.stage, shade_centres, shade_puffs, speed * 1.6, (0.0, 0.0, 0.0), 0.45, field_mask
        ),
    ]


@dataclass
class Vehicle:
    """A vehicle driving along the road: body, wheels, and at dusk its lamps and their beams."""

    stage: Stage
    enter_s: float
    crossing_s: float  # seconds to cross the frame
    leftwards: bool
    body: BGR
    lamps: bool
    truck: bool
    lane_v: float

    def draw(self, canvas: Image, t: float, rng: np.random.Generator) -> None:
        """Draw the vehicle where it is at ``t`` (nowhere before it enters or once gone)."""
        progress = (t - self.enter_s) / self.crossing_s
        if not -0.2 <= progress <= 1.3:
            return
        stage, h = self.stage, self.stage.height
        length = (0.22 if self.truck else 0.13) * h
        tall = (0.09 if self.truck else 0.055) * h
        u = -0.15 + 1.3 * progress
        if self.leftwards:
            u = 1.0 - u
        x, y = stage.x(u), stage.y(self.lane_v)
        ahead = -1 if self.leftwards else 1
        back = x - ahead * length / 2
        front = x + ahead * length / 2
        left, right = round(min(back, front)), round(max(back, front))
        cv2.rectangle(canvas, (left, round(y - tall * 0.6)), (right, round(y)), self.body, -1)
        cab_from = front - ahead * length * (0.28 if self.truck else 0.7)
        cab = sorted((round(cab_from), round(front - ahead * length * 0.05)))
        cv2.rectangle(
            canvas, (cab[0], round(y - tall)), (cab[1], round(y - tall * 0.6)), self.body, -1
        )
        window = tuple(c * 0.35 + 40 for c in self.body)
        cv2.rectangle(
            canvas,
            (cab[0] + 3, round(y - tall * 0.93)),
            (cab[1] - 3, round(y - tall * 0.65)),
            window,
            -1,
        )
        for wheel in (back + ahead * length * 0.2, front - ahead * length * 0.2):
            cv2.circle(
                canvas, (round(wheel), round(y)), max(2, round(tall * 0.18)), (25, 25, 25), -1
            )
        if self.lamps:
            self._lamps(canvas, front, back, y - tall * 0.35, ahead, rng)

    def _lamps(
        self,
        canvas: Image,
        front: float,
        back: float,
        y: float,
        ahead: int,
        rng: np.random.Generator,
    ) -> None:
        h = self.stage.height
        reach = 0.45 * h
        x0 = round(min(front, front + ahead * reach)) - 40
        x1 = round(max(back, front + ahead * reach)) + 40
        y0, y1 = round(y - 0.08 * h), round(y + 0.08 * h)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(canvas.shape[1], x1), min(canvas.shape[0], y1)
        if x1 <= x0 or y1 <= y0:
            return
        light = np.zeros((y1 - y0, x1 - x0), np.float32)
        lamp = (round(front - x0), round(y - y0))
        beam = np.array(
            [
                lamp,
                (lamp[0] + ahead * reach, lamp[1] - 0.02 * h),
                (lamp[0] + ahead * reach, lamp[1] + 0.07 * h),
            ]
        )
        cv2.fillPoly(light, [np.round(beam).astype(np.int32)], 0.35)
        light = cv2.GaussianBlur(light, (0, 0), 0.02 * h)
        flare = np.zeros_like(light)
        cv2.circle(flare, lamp, max(2, round(0.008 * h)), 1.0, -1)
        flare = (
            cv2.GaussianBlur(flare, (0, 0), 0.012 * h) * 6.0
            + cv2.GaussianBlur(flare, (0, 0), 2.0) * 2.0
        )
        # A lamp is brighter than the sensor can show: it saturates to white with a bloom.
        glare = np.clip(light + flare * (0.9 + 0.1 * float(rng.random())), 0.0, 3.0)[..., None]
        region = canvas[y0:y1, x0:x1].astype(np.float32)
        region += glare * np.array((225, 245, 255), np.float32)
        tail = (round(back - x0), lamp[1])
        if 0 <= tail[0] < region.shape[1]:
            cv2.circle(region, tail, max(1, round(0.005 * h)), (40, 40, 255), -1)
        canvas[y0:y1, x0:x1] = np.clip(region, 0, 255).astype(np.uint8)


def headlights(scene: Scene, rng: np.random.Generator) -> list[Layer]:
    """Three vehicles with their headlamps on crossing in turn along the road."""
    stage, gain = scene.stage, scene.lighting.field_gain
    dark = lit((60.0, 60.0, 65.0), gain)
    lane = (ROAD_V[0] + ROAD_V[1]) / 2
    return [
        Vehicle(
            stage, start, rng.uniform(6, 10), bool(i % 2), dark, True, i == 1, lane + 0.01 * (i % 2)
        )
        for i, start in enumerate((6.0, 24.0, 41.0))
    ]


def red_vehicle(scene: Scene, rng: np.random.Generator) -> list[Layer]:
    """A red lorry and later a red car pass along the road."""
    stage = scene.stage
    lane = (ROAD_V[0] + ROAD_V[1]) / 2
    return [
        Vehicle(stage, 8.0, rng.uniform(12, 16), False, (30.0, 35.0, 200.0), False, True, lane),
        Vehicle(
            stage, 35.0, rng.uniform(7, 10), True, (40.0, 30.0, 225.0), False, False, lane + 0.01
        ),
    ]


@dataclass
class Fog:
    """Fog rolling in from one side, thickest near the ground, thinning and thickening in bands."""

    stage: Stage
    texture: Field
    colour: BGR
    from_left: bool
    arrive_s: float  # when the front reaches the far side

    def draw(self, canvas: Image, t: float, rng: np.random.Generator) -> None:
        """Blend the fog at ``t``."""
        rows, cols = self.stage.field_shape
        front = t / self.arrive_s * 1.3 - 0.15  # in frame widths
        u = (
            np.arange(cols, dtype=np.float32) * self.stage.scale - self.stage.margin
        ) / self.stage.width
        if not self.from_left:
            u = 1.0 - u
        reached = 1.0 / (1.0 + np.exp((u - front) / 0.08))
        v = (
            np.arange(rows, dtype=np.float32) * self.stage.scale - self.stage.margin
        ) / self.stage.height
        low = np.clip(1.0 - np.abs(v - 0.5) / 0.55, 0.25, 1.0)
        shift = int(t * 0.01 * self.stage.width / self.stage.scale) * (1 if self.from_left else -1)
        band = np.roll(self.texture, shift, axis=1)[:rows, :cols]
        thickness = min(1.0, t / self.arrive_s)
        alpha = 0.8 * thickness * reached[None, :] * low[:, None] * (0.55 + 0.45 * band)
        composite(canvas, alpha.astype(np.float32), self.stage.scale, self.colour)


def fog(scene: Scene, rng: np.random.Generator) -> list[Layer]:
    """Fog that rolls over the field in about forty seconds."""
    colour = lit((222.0, 222.0, 218.0), scene.lighting.ambient)
    texture = turbulence(rng, scene.stage)
    return [Fog(scene.stage, texture, colour, bool(rng.random() < 0.5), rng.uniform(35, 45))]


@dataclass
class Tractor:
    """A tractor driving across the field."""

    stage: Stage
    enter_s: float
    crossing_s: float
    leftwards: bool
    row_v: float

    def position(self, t: Floats) -> Floats:
        """Canvas column of the tractor's middle at times ``t``."""
        u = -0.1 + 1.2 * (t - self.enter_s) / self.crossing_s
        along = 1.0 - u if self.leftwards else u
        return self.stage.margin + along * self.stage.width

    def draw(self, canvas: Image, t: float, rng: np.random.Generator) -> None:
        """Draw the tractor at ``t``."""
        h = self.stage.height
        x = float(self.position(np.array([t]))[0])
        y = self.stage.y(self.row_v)
        ahead = -1 if self.leftwards else 1
        size = 0.06 * h
        body = (40, 120, 45)
        cv2.rectangle(
            canvas,
            (round(x - size), round(y - size * 0.9)),
            (round(x + size), round(y - size * 0.4)),
            body,
            -1,
        )
        cab = round(x - ahead * size * 0.4)
        cv2.rectangle(
            canvas,
            (cab - round(size * 0.35), round(y - size * 1.6)),
            (cab + round(size * 0.35), round(y - size * 0.9)),
            (50, 60, 60),
            2,
        )
        cv2.circle(
            canvas,
            (round(x - ahead * size * 0.55), round(y - size * 0.45)),
            round(size * 0.5),
            (30, 30, 30),
            -1,
        )
        cv2.circle(
            canvas,
            (round(x + ahead * size * 0.7), round(y - size * 0.25)),
            round(size * 0.28),
            (30, 30, 30),
            -1,
        )
        cv2.line(
            canvas,
            (round(x + ahead * size * 0.5), round(y - size * 0.9)),
            (round(x + ahead * size * 0.5), round(y - size * 1.4)),
            (40, 40, 40),
            2,
        )


def tractor_dust(scene: Scene, rng: np.random.Generator) -> list[Layer]:
    """A tractor ploughing across the field, a low brown cloud of dust behind it."""
    stage, h = scene.stage, scene.stage.height
    tractor = Tractor(
        stage, 4.0, rng.uniform(40, 50), bool(rng.random() < 0.5), rng.uniform(0.66, 0.74)
    )
    birth, strength = emit(
        rng, tractor.enter_s, tractor.enter_s + tractor.crossing_s, 14.0, np.ones_like
    )
    n = birth.size
    ahead = -1 if tractor.leftwards else 1
    wind = rng.uniform(-0.01, 0.01)
    stream = PuffStream(
        birth=birth,
        life=rng.uniform(4.0, 7.0, n),
        x0=tractor.position(birth) - ahead * 0.05 * h + rng.normal(0, 0.01 * h, n),
        y0=np.full(n, stage.y(tractor.row_v)) - rng.uniform(0, 0.02 * h, n),
        rise=rng.uniform(0.004, 0.012, n) * h,
        drift=(wind + rng.normal(0, 0.004, n)) * h,
        radius=np.full(n, 0.02 * h),
        growth=rng.uniform(0.012, 0.02, n) * h,
        weight=rng.uniform(0.8, 1.2, n) * strength,
        phase=rng.uniform(0, 2 * math.pi, n),
        slowing=0.3,
        shear=0.0,
        wobble=0.006 * h,
    )
    colour = lit((128.0, 166.0, 196.0), scene.lighting.ambient)
    dust = PuffLayer(stage, stream, colour, turbulence(rng, stage), opacity=0.85, rise_speed=0.005)
    return [dust, tractor]


@dataclass
class Sun:
    """The setting sun: a bright disc with a wide orange glow, sinking behind the treeline."""

    stage: Stage
    u: float
    start_v: float
    sink_per_s: float  # frame heights per second
    sky: Field

    def __post_init__(self) -> None:
        rows, cols = self.stage.canvas_shape
        full = cv2.resize(self.sky, (cols, rows), interpolation=cv2.INTER_LINEAR)
        self._sky_full = np.asarray(full, np.float32)
        # The disc and its glow keep their shape as the sun sinks: draw them once.
        radius = 0.045 * self.stage.height
        self._reach = round(radius * 6)
        side = 2 * self._reach + 1
        disc = np.zeros((side, side), np.float32)
        cv2.circle(disc, (self._reach, self._reach), round(radius), 1.0, -1, cv2.LINE_AA)
        self._disc = disc
        self._glow = np.asarray(cv2.GaussianBlur(disc, (0, 0), radius * 2.0), np.float32) * 2.0

    def draw(self, canvas: Image, t: float, rng: np.random.Generator) -> None:
        """Blend the sun at ``t``; the treeline hides what has sunk behind it."""
        stage, reach = self.stage, self._reach
        x = round(stage.x(self.u))
        y = round(stage.y(self.start_v + self.sink_per_s * t))
        x0, y0 = max(0, x - reach), max(0, y - reach)
        x1, y1 = min(canvas.shape[1], x + reach + 1), min(canvas.shape[0], y + reach + 1)
        if x1 <= x0 or y1 <= y0:
            return
        kx, ky = x0 - (x - reach), y0 - (y - reach)
        disc = self._disc[ky : ky + y1 - y0, kx : kx + x1 - x0]
        glow = self._glow[ky : ky + y1 - y0, kx : kx + x1 - x0]
        sky = self._sky_full[y0:y1, x0:x1]
        region = canvas[y0:y1, x0:x1].astype(np.float32)
        region += (glow * sky)[..., None] * np.array((40, 150, 255), np.float32)
        weight = (disc * sky)[..., None]
        region += (np.array((170, 235, 255), np.float32) - region) * weight
        canvas[y0:y1, x0:x1] = np.clip(region, 0, 255).astype(np.uint8)


def sunset(scene: Scene, rng: np.random.Generator) -> list[Layer]:
    """The sun sinking behind the trees, thin orange-lit clouds drifting past."""
    centres, puffs = _cloud_set(rng, 4, (0.12, 0.3), 0.8, 0.4)
    colour = (70.0, 120.0, 235.0)  # lit from below by the low sun
    streaks = Clouds(scene.stage, centres, puffs, rng.uniform(0.004, 0.008), colour, 0.6, scene.sky)
    sun = Sun(scene.stage, rng.uniform(0.35, 0.7), 0.28, 0.12 / 75.0, scene.sky)
    return [sun, streaks]
