"""Small generated scenes for the detector's unit tests: a field, and things that happen in it.

Deliberately simple and independent of the simulator's clips: a textured field under a sky,
sensor noise, and one actor (a rising plume, a flickering flame, a passing red box, a drifting
cloud, a sliding shadow, a slow sunset).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.float32]
Actor = Callable[[Image, float, np.random.Generator], None]

WIDTH, HEIGHT = 320, 240
HORIZON = 90


def field(seed: int = 0, infrared: bool = False) -> Image:
    """A still scene: sky above the horizon, a textured stubble field below (float BGR 0..255)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    sky = np.array([200, 170, 140] if not infrared else [60, 60, 60], np.float32)
    image[:HORIZON] = sky
    texture = cv2.GaussianBlur(rng.normal(0, 1, (HEIGHT, WIDTH)).astype(np.float32), (0, 0), 1.2)
    ground = np.array([60, 110, 130] if not infrared else [90, 90, 90], np.float32)
    image[HORIZON:] = ground + 25 * texture[HORIZON:, :, None]
    return image


def plume(base_x: float = 160, base_y: float = 170, rise: float = 12.0) -> Actor:
    """Grey puffs leave a fixed base from t = 0, rise at ``rise`` px/s, widen and thin out."""

    def draw(image: Image, t: float, rng: np.random.Generator) -> None:
        if t < 0:
            return
        layer = np.zeros(image.shape[:2], np.float32)
        for k in range(int(t * 4) + 1):
            age = t - k / 4
            cx = base_x + 6 * math.sin(k * 1.7) + 2 * age
            cy = base_y - rise * age
            radius = 5 + 2.5 * age
            if cy + radius < 0:
                continue
            cv2.circle(layer, (round(cx), round(cy)), round(radius), 1.0 / (1 + 0.15 * age), -1)
        layer = np.asarray(cv2.GaussianBlur(layer, (0, 0), 3), np.float32)
        alpha = np.clip(layer, 0, 0.8)[..., None]
        image[:] = image * (1 - alpha) + 185 * alpha

    return draw


def flame(x0: int = 140, x1: int = 180, base_y: int = 170, hz: float = 4.0) -> Actor:
    """A line of flame tongues from t = 0 whose heights flicker at about ``hz``."""
    phases = np.random.default_rng(7).uniform(0, 2 * math.pi, x1 - x0)

    def draw(image: Image, t: float, rng: np.random.Generator) -> None:
        if t < 0:
            return
        for i, x in enumerate(range(x0, x1)):
            height = 10 + 7 * math.sin(2 * math.pi * hz * t + phases[i]) + rng.normal(0, 2)
            top = max(0, round(base_y - height))
            image[top:base_y, x] = (40, 160, 250)
            image[max(0, base_y - 4) : base_y, x] = (150, 230, 255)

    return draw


def red_box(speed: float = 40.0) -> Actor:
    """A red lorry-sized box driving left to right along the field."""

    def draw(image: Image, t: float, rng: np.random.Generator) -> None:
        x = round(-60 + speed * t)
        image[150:175, max(0, x) : max(0, x + 60)] = (30, 30, 210)

    return draw


def cloud(speed: float = 8.0) -> Actor:
    """A soft white cloud drifting sideways across the sky."""

    def draw(image: Image, t: float, rng: np.random.Generator) -> None:
        layer = np.zeros(image.shape[:2], np.float32)
        cv2.ellipse(layer, (round(20 + speed * t), 40), (40, 15), 0, 0, 360, 1.0, -1)
        alpha = cv2.GaussianBlur(layer, (0, 0), 6)[..., None] * 0.8
        image[:] = image * (1 - alpha) + 240 * alpha

    return draw


def shadow(speed: float = 15.0) -> Actor:
    """A soft cloud shadow sliding over the field."""

    def draw(image: Image, t: float, rng: np.random.Generator) -> None:
        layer = np.zeros(image.shape[:2], np.float32)
        cv2.ellipse(layer, (round(-40 + speed * t), 170), (50, 25), 0, 0, 360, 1.0, -1)
        dark = 1 - 0.45 * cv2.GaussianBlur(layer, (0, 0), 5)[..., None]
        image[:] = image * dark

    return draw


def sunset(duration_s: float = 40.0) -> Actor:
    """The whole scene turns slowly orange and dark."""

    def draw(image: Image, t: float, rng: np.random.Generator) -> None:
        k = min(1.0, max(0.0, t / duration_s))
        image[:] = image * np.array([1 - 0.6 * k, 1 - 0.35 * k, 1.0], np.float32)
        image[:HORIZON] = image[:HORIZON] * (1 - 0.5 * k) + np.array([40, 120, 250]) * 0.5 * k

    return draw


def frames(
    actor: Actor | None,
    *,
    seconds: float,
    start_s: float = 5.0,
    fps: float = 10.0,
    seed: int = 0,
    infrared: bool = False,
    noise: float = 2.0,
) -> Iterator[tuple[float, npt.NDArray[np.uint8]]]:
    """(time, BGR uint8 frame) pairs; the actor starts ``start_s`` into the clip."""
    rng = np.random.default_rng(seed)
    still = field(seed, infrared)
    for i in range(round(seconds * fps)):
        t = i / fps
        image = still.copy()
        if actor is not None:
            actor(image, t - start_s, rng)
        image += rng.normal(0, noise, image.shape[:2])[..., None]
        if infrared:
            # A near-infrared sensor sees the red end brightest: flames glare, the field is grey.
            image[:] = image.max(axis=2, keepdims=True)
        yield t, np.clip(image, 0, 255).astype(np.uint8)
