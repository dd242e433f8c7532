"""Clips written as video files, for agents that read a file instead of a stream."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2

from envgrid_sim.clips.clip import Clip

Progress = Callable[[int, int], None]


def write_clip(clip: Clip, path: Path | str, *, progress: Progress | None = None) -> Path:
    """Write ``clip`` as an AVI of JPEG frames (MJPG) at its own rate; return the path.

    ``progress(done, total)`` is called after every frame. Blocking: run it off any event loop.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter.fourcc(*"MJPG")
    writer = cv2.VideoWriter(str(target), fourcc, clip.fps, clip.size)
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write an MJPG video to {target}")
    total = clip.frame_count
    try:
        for done, frame in enumerate(clip.frames(), start=1):
            writer.write(frame)
            if progress is not None:
                progress(done, total)
    finally:
        writer.release()
    return target
