"""Camera nodes run from a scenario file: ``envgrid sim run FILE --cameras --camera-port 0``
serves each camera as MJPEG that OpenCV reads, and the timeline's burn sets its field on fire
on cue: no flame in the frames before the event's time, flames after it."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.e2e.support import clean_env, start, stop, wait_for

pytestmark = pytest.mark.timeout(90)

CAMERA = "field-cam"
BURN_AT_S = 5.0
FILE = f"""\
format: envgrid-scenario/1
name: field
title: 试验镇
cells:
- {{id: cc, level: county, name: 试验县}}
- {{id: ct, level: township, name: 试验镇, parent: cc}}
sites:
- id: field
  name: 试验村秸秆禁烧区
  category: farmland
  cell: ct
  nodes: [{{kind: camera, background: [quiet-day], burn: burn-smoke-day}}]
timeline:
- {{kind: burn, node: {CAMERA}, at_s: {BURN_AT_S}, clip: burn-flame-day}}
"""


def _flame_pixels(frame: np.ndarray) -> int:
    """Pixels of open flame: orange to yellow, saturated and bright."""
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
    return int(((hsv[..., 0] < 30) & (hsv[..., 1] > 120) & (hsv[..., 2] > 200)).sum())


def _read(url: str, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(url)
    try:
        assert capture.isOpened(), f"OpenCV cannot open {url}"
        frames: list[np.ndarray] = []
        for _ in range(count):
            ok, frame = capture.read()
            assert ok, f"OpenCV stopped reading {url} after {len(frames)} frames"
            frames.append(frame)
        return frames
    finally:
        capture.release()


def test_sim_run_serves_the_files_camera_and_burns_its_field_on_cue(
    tmp_path: Path, mqtt_url: str, topic_root: str
) -> None:
    path = tmp_path / "field.yaml"
    path.write_text(FILE, encoding="utf-8")
    index_path = tmp_path / "cameras.json"
    log = tmp_path / "sim.log"
    env = clean_env(
        ENVGRID_MQTT_URL=mqtt_url,
        ENVGRID_TOPIC_ROOT=topic_root,
        ENVGRID_SIM_CAMERA_WIDTH="160",
        ENVGRID_SIM_CAMERA_HEIGHT="120",
        ENVGRID_LOG_LEVEL="INFO",
    )
    args = ["sim", "run", str(path), "--cameras", "--camera-port", "0", "--data-dir", str(tmp_path)]
    process = start(args, env, log)
    try:
        index: dict[str, Any] = wait_for(
            "cameras.json",
            lambda: (
                json.loads(index_path.read_text(encoding="utf-8")) if index_path.exists() else None
            ),
            30,
            (log,),
        )
        seen = time.monotonic()  # the cameras started just before their index was written
        camera = index[CAMERA]
        (fire,) = camera["fires"]
        assert fire["clip"] == "burn-flame-day"
        assert fire["ignition_s"] == pytest.approx(BURN_AT_S)
        frames = _read(camera["stream"], 5)
        before = [_flame_pixels(f) for f in frames]
        assert time.monotonic() - seen < BURN_AT_S - 1, "read too late to see the field unburnt"
        # Long enough after ignition for the flames to have grown (the clip's own pace).
        time.sleep(max(0.0, seen + BURN_AT_S + 6 - time.monotonic()))
        after = [_flame_pixels(f) for f in _read(camera["stream"], 5)]
        assert process.poll() is None, "a scenario of cameras alone keeps running"
    finally:
        code = stop(process, signal.SIGTERM, timeout=15)
    assert code == 0, log.read_text()
    assert all(f.shape == (120, 160, 3) for f in frames)
    assert max(before) <= 10, before
    assert min(after) >= 60, after
