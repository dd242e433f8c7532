"""The stage every clip is drawn on: frame geometry, lighting, and the field scene behind it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from envgrid_sim.clips.noise import Field, Image, fractal_noise

BGR = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Lighting:
    """How a time of day looks: the sky, how much light the field gets, the colour of that light."""

    name: str
    sky_top: BGR
    sky_horizon: BGR
    field_gain: BGR  # multiplies the daylight colours of the ground
    ambient: BGR  # multiplies the colour of smoke, dust and cloud
    noise_sigma: float  # sensor grain, in grey levels
    grey: bool = False  # an infrared night camera: one channel shown as three


DAY = Lighting("day", (205, 160, 105), (236, 220, 200), (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), 2.5)
DUSK = Lighting("dusk", (105, 70, 62), (95, 150, 225), (0.42, 0.45, 0.55), (0.5, 0.5, 0.6), 4.0)
SUNSET = Lighting("sunset", (110, 62, 75), (40, 105, 245), (0.35, 0.42, 0.6), (0.45, 0.5, 0.7), 4.0)
NIGHT_IR = Lighting(
    "night-ir", (38, 38, 38), (62, 62, 62), (0.62, 0.62, 0.62), (0.7, 0.7, 0.7), 5.0, grey=True
)
LIGHTINGS = {lighting.name: lighting for lighting in (DAY, DUSK, SUNSET, NIGHT_IR)}


@dataclass(frozen=True, slots=True)
class Stage:
    """Frame geometry: layers draw on a canvas ``margin`` pixels larger on every side, so that
    camera jitter is a crop, never a warp."""

    width: int
    height: int

    @property
    def margin(self) -> int:
        """Pixels of canvas outside the frame on each side."""
        return max(4, round(0.01 * self.width))

    @property
    def canvas_shape(self) -> tuple[int, int]:
        """(rows, cols) of the canvas."""
        return self.height + 2 * self.margin, self.width + 2 * self.margin

    @property
    def scale(self) -> int:
        """How much coarser the density fields of smoke, cloud and fog are than the canvas."""
        return max(2, round(self.width / 160))

    @property
    def field_shape(self) -> tuple[int, int]:
        """(rows, cols) of a density field."""
        rows, cols = self.canvas_shape
        return -(-rows // self.scale), -(-cols // self.scale)

    def x(self, u: float) -> float:
        """Canvas column of a frame position ``u`` (0 left, 1 right)."""
        return self.margin + u * self.width

    def y(self, v: float) -> float:
        """Canvas row of a frame position ``v`` (0 top, 1 bottom)."""
        return self.margin + v * self.height

    @property
    def horizon(self) -> float:
        """Canvas row of the horizon."""
        return self.y(HORIZON_V)


HORIZON_V = 0.40
ROAD_V = (0.86, 0.91)  # top and bottom of the road across the foreground


def _gradient(top: BGR, bottom: BGR, rows: int, cols: int) -> Field:
    ramp = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None, None]
    top_a = np.array(top, np.float32)[None, None, :]
    bottom_a = np.array(bottom, np.float32)[None, None, :]
    return np.broadcast_to(top_a + (bottom_a - top_a) * ramp, (rows, cols, 3)).copy()


# Ground colours in daylight (BGR): harvested stubble, ploughed soil, a late green crop.
_PARCELS: tuple[BGR, ...] = ((96, 152, 186), (70, 100, 128), (88, 140, 170), (78, 128, 110))


@dataclass(frozen=True, slots=True)
class Scene:
    """The field a clip happens in: geometry, light, the painted background and where sky is."""

    stage: Stage
    lighting: Lighting
    background: Image
    sky: Field  # 1 where the sky shows (above the treeline), on the coarse grid of density fields


def paint_scene(stage: Stage, lighting: Lighting, rng: np.random.Generator) -> Scene:
    """The background canvas and its sky mask."""
    background, treeline = paint_field(stage, lighting, rng)
    rows = stage.canvas_shape[0]
    row_index = np.arange(rows, dtype=np.float32)[:, None]
    sky = (row_index < treeline[None, :]).astype(np.float32)
    coarse = np.asarray(
        cv2.resize(sky, stage.field_shape[::-1], interpolation=cv2.INTER_AREA), np.float32
    )
    return Scene(stage, lighting, background, coarse)


def paint_field(
    stage: Stage, lighting: Lighting, rng: np.random.Generator
) -> tuple[Image, npt.NDArray[np.float32]]:
    """The background canvas (sky, treeline, farmland parcels with rows, a road, a few poles)
    and the row of the treeline's top in each column."""
    rows, cols = stage.canvas_shape
    horizon = round(stage.horizon)
    canvas = np.zeros((rows, cols, 3), np.float32)
    sky = _gradient(lighting.sky_top, lighting.sky_horizon, horizon, cols)
    sky += (fractal_noise(rng, (horizon, cols), 3)[..., None] - 0.5) * 10
    canvas[:horizon] = sky

    ground = np.zeros((rows - horizon, cols, 3), np.float32)
    vanish_x = stage.x(rng.uniform(0.35, 0.65))
    cuts = sorted(rng.uniform(-0.6, 1.6, 4).tolist())
    edges = [-3.0, *cuts, 4.0]
    for i in range(len(edges) - 1):
        colour = _PARCELS[int(rng.integers(0, len(_PARCELS)))]
        left, right = stage.x(edges[i]), stage.x(edges[i + 1])
        polygon = np.array(
            [[vanish_x, -2 * stage.height], [left, rows], [right, rows]], np.float64
        ) - [0, horizon]
        cv2.fillPoly(ground, [np.round(polygon).astype(np.int32)], colour)
        # Furrows and stubble rows: lines converging to the vanishing point.
        darker = tuple(c * 0.82 for c in colour)
        for u in np.arange(edges[i], edges[i + 1], rng.uniform(0.012, 0.025)).tolist():
            end = (round(stage.x(u)), rows - horizon)
            start = (round(vanish_x), round(-2 * stage.height))
            cv2.line(ground, start, end, darker, 1, cv2.LINE_AA)
    texture = fractal_noise(rng, (rows - horizon, cols), 5)
    grain = cv2.GaussianBlur(rng.random((rows - horizon, cols)).astype(np.float32), (3, 3), 0)
    ground *= (0.78 + 0.32 * texture + 0.16 * (grain - 0.5))[..., None]
    ground *= np.array(lighting.field_gain, np.float32)
    # Aerial perspective: the far field fades into the colour of the horizon sky.
    depth = np.linspace(1.0, 0.0, rows - horizon, dtype=np.float32) ** 6
    haze = np.array(lighting.sky_horizon, np.float32) * 0.8
    ground += (haze - ground) * (0.55 * depth)[:, None, None]
    canvas[horizon:] = ground

    treeline = _treeline(canvas, stage, lighting, rng)
    _road(canvas, stage, lighting)
    _poles(canvas, stage, lighting, rng)
    return np.clip(canvas, 0, 255).astype(np.uint8), treeline


def _treeline(
    canvas: Field, stage: Stage, lighting: Lighting, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    cols = canvas.shape[1]
    # Crowns a few pixels wide on top of a gently rolling line of trees.
    profile = fractal_noise(rng, (64, cols), 2, coarsest=12)[0] * 0.4
    profile += fractal_noise(rng, (64, cols), 3, coarsest=1)[0] * 0.6
    tops = stage.horizon - (0.008 + 0.045 * profile) * stage.height
    dark = np.array((58, 82, 66), np.float32) * np.array(lighting.field_gain, np.float32)
    haze = np.array(lighting.sky_horizon, np.float32)
    colour = dark * 0.7 + haze * 0.3
    row_index = np.arange(canvas.shape[0], dtype=np.float32)[:, None]
    mask = (row_index >= tops[None, :]) & (row_index < stage.horizon + 1)
    canvas[mask] = colour
    return np.asarray(tops, np.float32)


def _road(canvas: Field, stage: Stage, lighting: Lighting) -> None:
    top, bottom = round(stage.y(ROAD_V[0])), round(stage.y(ROAD_V[1]))
    gain = np.array(lighting.field_gain, np.float32)
    canvas[top:bottom] = canvas[top:bottom] * 0.25 + np.array((140, 142, 140), np.float32) * gain
    canvas[top : top + 2] *= 0.7
    canvas[bottom - 2 : bottom] *= 0.7


def _poles(canvas: Field, stage: Stage, lighting: Lighting, rng: np.random.Generator) -> None:
    colour = tuple(float(c) * 0.3 for c in lighting.field_gain)
    base = stage.horizon + 0.04 * stage.height
    for u in sorted(rng.uniform(0.05, 0.95, 3).tolist()):
        x = round(stage.x(u))
        height = 0.09 * stage.height
        cv2.line(canvas, (x, round(base)), (x, round(base - height)), colour, 2)
        bar = round(base - height * 0.92)
        cv2.line(canvas, (x - 6, bar), (x + 6, bar), colour, 1)
