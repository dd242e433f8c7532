"""The detector's cues one by one, on small generated arrays: motion, flicker, flame, smoke."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.flame import FlameCue, flame_colour
from envgrid_edge.camera.detector.flicker import FlickerMap
from envgrid_edge.camera.detector.motion import MotionGate
from envgrid_edge.camera.detector.smoke import SmokeCue, local_contrast, vertical_flow
from envgrid_edge.camera.detector.views import is_infrared, make_views

FPS = 10.0
SHAPE = (40, 40)


def _grey(value: float) -> np.ndarray:
    return np.full(SHAPE, value, np.float32)


def _look() -> np.ndarray:
    return np.ones(SHAPE, np.bool_)


def test_motion_gate_sees_what_moved_and_learns_the_scene_slowly() -> None:
    gate = MotionGate(background_tau_s=5.0, motion_tau_s=0.3, threshold=6.0)
    for i in range(20):
        gate.learn(_grey(100), i / FPS)
    frame = _grey(100)
    frame[10:20, 10:20] = 160
    assert gate.moving(frame, _look()) == pytest.approx(6 / 100, abs=0.03)  # cells of 4 px
    # A camera shaking by a pixel moves a 4-pixel cell's mean by a quarter of an edge's step:
    # field texture (steps of 20) stays under the threshold, where every pixel would not.
    textured = _grey(100)
    textured[:, ::8] = 120
    soft = np.asarray(cv2.GaussianBlur(textured, (0, 0), 1.0), np.float32)
    for i in range(10):
        gate.learn(soft, 2.0 + i / FPS)
    shaken = np.roll(soft, 1, axis=1)
    assert gate.moving(shaken, _look()) == 0.0
    assert np.count_nonzero(np.abs(shaken - soft) > 6.0) >= 40  # pixel by pixel it moved
    assert gate.background is not None
    assert 100 < gate.background[15, 15] < 130  # one second moves a 5 s background only a little


def test_motion_gate_holds_candidates_longer() -> None:
    free, held = (MotionGate(5.0, 0.3, 6.0) for _ in range(2))
    for gate in (free, held):
        gate.learn(_grey(100), 0.0)
    everywhere = np.ones(SHAPE, np.bool_)
    for i in range(1, 30):
        free.learn(_grey(200), i / FPS)
        held.learn(_grey(200), i / FPS, held=everywhere)
    assert free.background is not None
    assert held.background is not None
    assert held.background[0, 0] < free.background[0, 0] - 20


def test_flicker_counts_swings_of_a_flickering_pixel_not_of_a_still_or_stepped_one() -> None:
    flicker = FlickerMap(frames=16, deadband=8.0, mean_tau_s=0.3)
    rng = np.random.default_rng(0)
    for i in range(40):
        t = i / FPS
        frame = _grey(100) + rng.normal(0, 2, SHAPE).astype(np.float32)
        frame[0:10] += 40 * math.sin(2 * math.pi * 3.0 * t)  # a flame tip at 3 Hz
        if i >= 20:
            frame[20:30] += 80  # a lamp switched on
        flicker.update(frame.astype(np.float32), t)
    rate = flicker.rate()
    assert rate[0:10].mean() > 3.0
    assert rate[10:20].max() == 0.0  # noise stays inside the deadband
    assert rate[20:30].max() <= 1.0 / 1.6  # one change in the 1.6 s window


def test_flame_colour_is_warm_and_brighter_than_the_scene() -> None:
    config = DetectorConfig()
    bgr = np.zeros((*SHAPE, 3), np.uint8)
    bgr[:] = (60, 110, 130)  # warm-ish stubble: warm but not luminous
    bgr[0:10] = (40, 160, 250)  # flame orange
    bgr[10:20] = (220, 220, 230)  # white lamp: bright, not warm
    bgr[20:30] = (30, 30, 210)  # red paint: warm, but darker than a flame
    views = make_views(bgr, (40, 40), _look())
    background = np.full(SHAPE, 100, np.float32)
    colour = flame_colour(views, background, config)
    assert colour[0:10].all()
    assert not colour[10:].any()


def test_flame_on_infrared_is_bright_over_the_scene() -> None:
    bgr = np.full((*SHAPE, 3), 90, np.uint8)
    bgr[0:10] = 250
    views = make_views(bgr, (40, 40), _look())
    assert views.infrared
    colour = flame_colour(views, np.full(SHAPE, 90, np.float32), DetectorConfig())
    assert colour[0:10].all()
    assert not colour[10:].any()


def test_infrared_is_three_equal_channels() -> None:
    grey = np.full((32, 32, 3), 77, np.uint8)
    assert is_infrared(grey)
    grey[..., 2] = 120
    assert not is_infrared(grey)


def test_flame_cue_keeps_only_flickering_flame_coloured_blobs() -> None:
    config = DetectorConfig()
    cue = FlameCue(config)
    flicker = FlickerMap(config.flicker_frames, config.flicker_deadband, config.flicker_mean_tau_s)
    background = np.full((60, 60), 100, np.float32)
    look = np.ones((60, 60), np.bool_)
    regions = []
    for i in range(30):
        t = i / FPS
        bgr = np.full((60, 60, 3), (90, 100, 110), np.uint8)
        if math.sin(2 * math.pi * 3.0 * t) > 0:
            bgr[10:20, 10:20] = (40, 160, 250)  # flickering flame
        bgr[40:50, 40:50] = (40, 160, 250)  # a steady orange lamp
        views = make_views(bgr, (60, 60), look)
        recent = cue.observe(views, background, t)
        flicker.update(views.grey, t)
        regions = cue.regions(recent, flicker.rate())
    assert len(regions) == 1
    x, y, _w, _h = regions[0].box
    assert 5 <= x <= 12
    assert 5 <= y <= 12
    assert regions[0].strength >= 0.5


def test_local_contrast_drops_when_detail_is_washed_out() -> None:
    rng = np.random.default_rng(1)
    texture = (100 + 30 * rng.normal(0, 1, (60, 60))).astype(np.float32)
    hazy = 0.4 * texture + 0.6 * 180  # airlight: brighter, less detail
    shaded = 0.5 * texture  # a shadow: darker, same detail relative to brightness
    sharp = local_contrast(texture).mean()
    assert local_contrast(hazy.astype(np.float32)).mean() < 0.5 * sharp
    assert local_contrast(shaded.astype(np.float32)).mean() > 0.7 * sharp


def test_smoke_mask_takes_grey_soft_changes_and_not_sharp_coloured_ones() -> None:
    config = DetectorConfig()
    rng = np.random.default_rng(2)
    ground = np.clip(
        np.stack([60 + 20 * rng.normal(0, 1, (60, 60))] * 3, axis=-1) + np.array([0, 50, 70]),
        0,
        255,
    ).astype(np.uint8)
    look = np.ones((60, 60), np.bool_)
    cue = SmokeCue(config)
    before = make_views(ground, (60, 60), look)
    cue.learn(before, 0.0, None)
    frame = ground.copy()
    frame[5:25, 5:25] = (0.3 * frame[5:25, 5:25] + 0.7 * 170).astype(np.uint8)  # grey haze
    frame[35:55, 5:25] = (0, 0, 255)  # a red box
    checks = (np.indices((20, 20)).sum(axis=0) // 2 % 2 * 255).astype(np.uint8)
    frame[35:55, 35:55] = checks[..., None]  # a grey but sharply patterned object
    views = make_views(frame, (60, 60), look)
    mask = cue.mask(views, before.grey)
    assert mask[8:22, 8:22].mean() > 0.8
    assert mask[35:55, 5:25].mean() < 0.05
    assert mask[38:52, 38:52].mean() < 0.05


def test_vertical_flow_sees_texture_move_up() -> None:
    rng = np.random.default_rng(3)
    noise = rng.uniform(0, 255, (80, 80)).astype(np.float32)
    texture = np.asarray(cv2.GaussianBlur(noise, (0, 0), 2), np.float32)
    before = texture[10:70, 10:70]
    after = texture[13:73, 10:70]  # the content moved up by 3 pixels
    where = np.ones(before.shape, np.bool_)
    flow = vertical_flow(before.copy(), after.copy(), where, min_change=1.0)
    assert flow is not None
    dx, dy = flow
    assert dy == pytest.approx(-3.0, abs=1.0)
    assert abs(dx) < 1.0
    assert vertical_flow(before.copy(), before.copy(), where, min_change=1.0) is None
