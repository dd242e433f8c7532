"""The virtual camera: OpenCV reads its MJPEG stream like an IP camera's, again after a
reconnect, and stopping it leaves no thread, port or process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from envgrid_cli.main import main
from envgrid_sim.camera import VirtualCamera, burn_at, looping
from tests.polling import wait_until

SIZE = (160, 120)
SERVE_FOG = ["sim", "camera", "--clip", "neg-fog", "--port", "0", "--size", "160x120"]


def _read(url: str, count: int) -> list[np.ndarray]:
    """``count`` frames read through OpenCV (its FFmpeg backend), then the capture closed."""
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


def _camera_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(("camera-", "Thread-"))}


@pytest.fixture
def camera() -> Iterator[VirtualCamera]:
    with VirtualCamera(looping("neg-clouds", size=SIZE, fps=10.0)) as running:
        yield running


def test_opencv_reads_the_stream_as_frames_of_the_clip(camera: VirtualCamera) -> None:
    frames = _read(camera.url, 15)
    assert all(frame.shape == (SIZE[1], SIZE[0], 3) for frame in frames)
    # Clouds drift and the sensor has grain: the stream is live, not one image repeated.
    assert not np.array_equal(frames[0], frames[-1])
    wait_until(lambda: camera.stats.parts_sent >= 15, 5, "the server to count what it sent")


def test_a_client_that_reconnects_gets_the_stream_again(camera: VirtualCamera) -> None:
    first = _read(camera.url, 5)
    again = _read(camera.url, 5)
    assert len(first) == len(again) == 5
    assert camera.stats.connections == 2
    # Frames keep their times: the second connection sees a later part of the clip.
    assert not np.array_equal(first[0], again[-1])


def test_two_clients_watch_at_once(camera: VirtualCamera) -> None:
    results: list[int] = []
    readers = [
        threading.Thread(target=lambda: results.append(len(_read(camera.url, 8)))) for _ in range(2)
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(30)
    assert results == [8, 8]


def test_snapshot_is_a_jpeg_of_the_current_frame(camera: VirtualCamera) -> None:
    with urllib.request.urlopen(camera.snapshot_url, timeout=10) as response:
        assert response.headers["Content-Type"] == "image/jpeg"
        body = response.read()
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == (SIZE[1], SIZE[0], 3)


def test_stopping_with_a_client_watching_leaves_no_thread_and_frees_the_port() -> None:
    before = _camera_threads()
    camera = VirtualCamera(looping("quiet-day", size=SIZE, fps=10.0)).start()
    capture = cv2.VideoCapture(camera.url)
    try:
        assert capture.read()[0]
        assert len(_camera_threads() - before) >= 3  # drawing, serving, this client
        camera.stop()
        assert _camera_threads() - before == set()
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection((camera.host, camera.port), 2),
        ):
            pass
    finally:
        capture.release()
        if not camera.stopping:
            camera.stop()


def test_a_scheduled_burn_ignites_when_asked_in_the_quiet_field() -> None:
    schedule = burn_at(40.0, burn="burn-flame-day", size=SIZE, fps=10.0)
    (fire,) = schedule.fires
    assert fire.ignition_s == pytest.approx(40.0)
    assert fire.extinguished_s > fire.ignition_s
    quiet = schedule.frame_at(30.0)
    burning = schedule.frame_at(50.0)
    hsv = cv2.cvtColor(burning, cv2.COLOR_BGR2HSV)
    flame = (hsv[..., 0] < 30) & (hsv[..., 1] > 120) & (hsv[..., 2] > 200)
    quiet_hsv = cv2.cvtColor(quiet, cv2.COLOR_BGR2HSV)
    assert flame.sum() > 10
    assert (
        (quiet_hsv[..., 0] < 30) & (quiet_hsv[..., 1] > 120) & (quiet_hsv[..., 2] > 200)
    ).sum() == 0
    # It loops: one period later the same moment comes round again.
    assert np.array_equal(schedule.frame_at(50.0 + schedule.period_s), burning)


def test_the_sim_camera_command_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "envgrid_cli", *SERVE_FOG],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            found = re.search(rb"stream (http://\S+)", line)
            if found:
                url = found.group(1).decode()
                break
        assert url is not None, "the command never said where its stream is"
        assert len(_read(url, 5)) == 5
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        rest = process.stdout.read().decode()
        assert "camera stopped" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def test_envgrid_sim_runs_the_scenario_camera_and_its_burn_next_to_the_sensors(
    tmp_path: Path, mqtt_url: str, topic_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVGRID_MQTT_URL", mqtt_url)
    monkeypatch.setenv("ENVGRID_TOPIC_ROOT", topic_root)
    before = _camera_threads()
    index = tmp_path / "cameras.json"
    read: list[int] = []

    def watch() -> None:
        wait_until(index.exists, 20, "cameras.json")
        cameras = json.loads(index.read_text(encoding="utf-8"))
        read.append(len(_read(cameras["luxi-field-01-cam"]["stream"], 5)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    args = ["sim", "--nodes", "1", "--cameras", "--camera-port", "0", "--duration", "4"]
    status = main([*args, "--data-dir", str(tmp_path), "--incident", "luxi-field-01-cam:burn:2"])
    watcher.join(30)
    assert status == 0
    assert read == [5]
    (fire,) = json.loads(index.read_text(encoding="utf-8"))["luxi-field-01-cam"]["fires"]
    assert fire["ignition_s"] == pytest.approx(2.0)
    assert _camera_threads() - before == set()


def test_a_camera_never_started_or_stopped_twice_stops_at_once() -> None:
    idle = VirtualCamera(looping("quiet-dusk", size=SIZE))
    idle.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection((idle.host, idle.port), 2):
        pass
    running = VirtualCamera(looping("quiet-dusk", size=SIZE)).start()
    running.stop()
    running.stop()
    assert running.stopping
