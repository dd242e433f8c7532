"""Camera test material: a scripted detector, and videos and image folders made on the spot."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from envgrid_common.messages import DetectionKind, DetectionPhase
from envgrid_edge.camera.config import CameraConfig
from envgrid_edge.camera.events import CameraEvent, Frame, Mask

EVENT_ID = "cam-fake-ev-1"


def jpeg(shade: int = 90, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small grey JPEG."""
    ok, buffer = cv2.imencode(".jpg", np.full((size[1], size[0], 3), shade, dtype=np.uint8))
    assert ok
    return bytes(buffer.tobytes())


@dataclass
class ScriptedDetector:
    """Reports ``new`` at frame ``new_at``, an ``update`` with a better snapshot at
    ``update_at`` and ``end`` at ``end_at`` (frames counted from 1), or at :meth:`finish`."""

    mask: Mask
    new_at: int = 3
    update_at: int = 5
    end_at: int | None = 8
    event_id: str = EVENT_ID
    frames: list[tuple[tuple[int, ...], float]] = field(default_factory=list)
    open: bool = False

    def _event(self, phase: DetectionPhase, at: float, snapshot: bytes | None) -> CameraEvent:
        confidence = {"new": 0.6, "update": 0.8, "end": 0.8}[phase.value]
        return CameraEvent(
            self.event_id, DetectionKind.SMOKE, phase, confidence, (4, 5, 20, 10), at, snapshot
        )

    def process(self, frame: Frame, at: float) -> list[CameraEvent]:
        self.frames.append((frame.shape, at))
        number = len(self.frames)
        if number == self.new_at:
            self.open = True
            return [self._event(DetectionPhase.NEW, at, jpeg(90))]
        if number == self.update_at and self.open:
            return [self._event(DetectionPhase.UPDATE, at, jpeg(120))]
        if number == self.end_at and self.open:
            self.open = False
            return [self._event(DetectionPhase.END, at, None)]
        return []

    def finish(self, at: float) -> list[CameraEvent]:
        if not self.open:
            return []
        self.open = False
        return [self._event(DetectionPhase.END, at, None)]


class DetectorMaker:
    """A detector factory that keeps what it made (one scripted detector per call)."""

    def __init__(self, new_at: int = 3, update_at: int = 5, end_at: int | None = 8) -> None:
        self.script = (new_at, update_at, end_at)
        self.made: list[ScriptedDetector] = []

    def __call__(self, config: CameraConfig, mask: Mask) -> ScriptedDetector:
        new_at, update_at, end_at = self.script
        detector = ScriptedDetector(mask, new_at, update_at, end_at)
        self.made.append(detector)
        return detector


def write_video(
    path: Path, frames: int, fps: float = 10.0, size: tuple[int, int] = (96, 64)
) -> Path:
    """An MJPG .avi of ``frames`` frames whose grey level tells their number."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    for number in range(frames):
        writer.write(np.full((size[1], size[0], 3), (number * 10) % 260, dtype=np.uint8))
    writer.release()
    return path


def write_folder(path: Path, count: int, size: tuple[int, int] = (96, 64)) -> Path:
    """``count`` PNG stills named so that name order is number order (grey level = number × 10)."""
    path.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        image = np.full((size[1], size[0], 3), (number * 10) % 260, dtype=np.uint8)
        cv2.imwrite(str(path / f"still-{number:04d}.png"), image)
    return path


def shade(frame: Frame) -> int:
    """The grey level at the frame's centre."""
    height, width = frame.shape[:2]
    return int(frame[height // 2, width // 2, 1])
