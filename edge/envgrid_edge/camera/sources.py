"""Where frames come from, through OpenCV: streams, local devices, video files, image folders.

A source is iterated in a worker thread, never on an event loop: OpenCV blocks. Streams and
devices are *live*: they reconnect with back-off when they drop (one warning per outage, one
line when back) and time their frames on the monotonic clock. Files and folders are finite
(unless they loop), time their frames by position, and are paced to real time unless told not to.
Only frames the caller wants are decoded in full (``grab`` always, ``retrieve`` when wanted).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, cast
from urllib.parse import urlsplit, urlunsplit

import cv2

from envgrid_edge.camera.config import (
    DeviceSource,
    FileSource,
    FolderSource,
    SourceConfig,
    StreamSource,
)
from envgrid_edge.camera.events import Frame

log = logging.getLogger("envgrid.edge.camera.source")

Want = Callable[[float], bool]
_FFMPEG_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_DEFAULT_FPS = 25.0


class SourceError(RuntimeError):
    """A source that cannot give frames at all (a missing file, an empty folder)."""


class SourceState(StrEnum):
    """What a source is doing, as the health line reports it."""

    STARTING = "starting"
    LIVE = "live"
    DOWN = "down"  # a live source lost: reconnecting with back-off
    ENDED = "ended"


@dataclass(slots=True)
class SourceCounters:
    """What a source has done since it started."""

    grabbed: int = 0
    decoded: int = 0
    outages: int = 0


class FrameSource(Protocol):
    """Frames in time order with their time in seconds (the source's clock)."""

    name: str
    live: bool
    state: SourceState
    counters: SourceCounters

    def frames(self, stop: threading.Event, want: Want) -> Iterator[tuple[Frame, float]]:
        """Yield the wanted frames until the source ends or ``stop`` is set."""
        ...


def redacted(url: str) -> str:
    """``url`` without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def open_source(config: SourceConfig) -> FrameSource:
    """The source a node file describes."""
    if isinstance(config, StreamSource):
        return StreamCapture(config)
    if isinstance(config, DeviceSource):
        return DeviceCapture(config)
    if isinstance(config, FileSource):
        return VideoFile(config)
    return ImageFolder(config)


def _retrieve(capture: cv2.VideoCapture) -> Frame | None:
    ok, frame = capture.retrieve()
    return cast(Frame, frame) if ok and frame is not None else None


class _Pacer:
    """Releases frames at the pace of their timestamps (for files and folders played live)."""

    def __init__(self, realtime: bool) -> None:
        self._realtime = realtime
        self._start: float | None = None

    def wait(self, at: float, stop: threading.Event) -> bool:
        """Wait until the frame at ``at`` is due; False if ``stop`` came first."""
        if not self._realtime:
            return not stop.is_set()
        now = time.monotonic()
        if self._start is None:
            self._start = now - at
        return not stop.wait(max(0.0, self._start + at - now))


class _LiveCapture:
    """A source that can drop and come back: reconnects with doubling back-off."""

    live = True

    def __init__(self, name: str, reconnect_min_s: float, reconnect_max_s: float) -> None:
        self.name = name
        self.state = SourceState.STARTING
        self.counters = SourceCounters()
        self._min_s = reconnect_min_s
        self._max_s = reconnect_max_s
        self._down_since = 0.0

    def _open(self) -> cv2.VideoCapture:
        raise NotImplementedError

    def frames(self, stop: threading.Event, want: Want) -> Iterator[tuple[Frame, float]]:
        """Yield wanted frames, reconnecting whenever the source drops, until ``stop``."""
        delay = self._min_s
        while not stop.is_set():
            capture = self._open()
            try:
                if not capture.isOpened():
                    self._lost("cannot open it")
                else:
                    delivered = False
                    while not stop.is_set():
                        if not capture.grab():
                            self._lost("no frame came" if delivered else "it gives no frames")
                            break
                        at = time.monotonic()
                        self.counters.grabbed += 1
                        if not delivered:
                            delivered = True
                            delay = self._min_s
                            self._back()
                        if want(at):
                            frame = _retrieve(capture)
                            if frame is not None:
                                self.counters.decoded += 1
                                yield frame, at
            finally:
                capture.release()
            if stop.wait(delay):
                break
            delay = min(delay * 2, self._max_s)
        self.state = SourceState.ENDED

    def _lost(self, why: str) -> None:
        if self.state is SourceState.DOWN:
            return  # one warning per outage, however many attempts it takes
        self.state = SourceState.DOWN
        self.counters.outages += 1
        self._down_since = time.monotonic()
        log.warning(
            "camera %s is down (%s); reconnecting with back-off up to %gs",
            self.name,
            why,
            self._max_s,
        )

    def _back(self) -> None:
        if self.state is SourceState.DOWN:
            log.info(
                "camera %s is back after %.0fs", self.name, time.monotonic() - self._down_since
            )
        elif self.state is SourceState.STARTING:
            log.info("camera %s: receiving frames", self.name)
        self.state = SourceState.LIVE


class StreamCapture(_LiveCapture):
    """An RTSP or HTTP camera through OpenCV's FFmpeg backend."""

    def __init__(self, config: StreamSource) -> None:
        super().__init__(redacted(config.url), config.reconnect_min_s, config.reconnect_max_s)
        self.config = config

    def _open(self) -> cv2.VideoCapture:
        config = self.config
        if config.url.lower().startswith("rtsp"):
            # FFmpeg reads its options from the environment; a user's own setting wins.
            os.environ.setdefault(_FFMPEG_OPTIONS, f"rtsp_transport;{config.rtsp_transport}")
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            round(config.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            round(config.read_timeout_s * 1000),
        ]
        return cv2.VideoCapture(config.url, cv2.CAP_FFMPEG, params)


class DeviceCapture(_LiveCapture):
    """A local camera (V4L2 on Linux): ``/dev/videoN`` or an index."""

    def __init__(self, config: DeviceSource) -> None:
        super().__init__(str(config.device), config.reconnect_min_s, config.reconnect_max_s)
        self.config = config

    def _open(self) -> cv2.VideoCapture:
        config = self.config
        capture = cv2.VideoCapture(config.device)
        if capture.isOpened():
            for prop, value in (
                (cv2.CAP_PROP_FRAME_WIDTH, config.width),
                (cv2.CAP_PROP_FRAME_HEIGHT, config.height),
                (cv2.CAP_PROP_FPS, config.fps),
            ):
                if value is not None:
                    capture.set(prop, value)
        return capture


class _Recorded:
    """What a video file and an image folder share: named by their path, timed by position."""

    live = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = SourceState.STARTING
        self.counters = SourceCounters()

    def _grabbed(self, pacer: _Pacer, at: float, stop: threading.Event) -> bool:
        """Count a frame grabbed and hold it until its time; False once ``stop`` is set."""
        self.counters.grabbed += 1
        return pacer.wait(at, stop)


class VideoFile(_Recorded):
    """A video file, timed by frame position; looped and paced as the node file says."""

    def __init__(self, config: FileSource) -> None:
        super().__init__(str(config.path))
        self.config = config

    def frames(self, stop: threading.Event, want: Want) -> Iterator[tuple[Frame, float]]:
        """Yield wanted frames to the end (again and again if looping), or until ``stop``."""
        pacer = _Pacer(self.config.realtime)
        offset = 0.0
        while not stop.is_set():
            capture = cv2.VideoCapture(str(self.config.path), cv2.CAP_FFMPEG)
            index = 0
            try:
                if not capture.isOpened():
                    raise SourceError(f"cannot read video file {self.config.path}")
                fps = capture.get(cv2.CAP_PROP_FPS)
                fps = fps if 0 < fps < 1000 else _DEFAULT_FPS
                self.state = SourceState.LIVE
                while capture.grab():
                    at = offset + index / fps
                    index += 1
                    if not self._grabbed(pacer, at, stop):
                        return
                    if want(at):
                        frame = _retrieve(capture)
                        if frame is not None:
                            self.counters.decoded += 1
                            yield frame, at
            finally:
                capture.release()
            if index == 0:
                raise SourceError(f"video file {self.config.path} has no frames")
            if not self.config.loop:
                break
            offset += index / fps
        self.state = SourceState.ENDED


class ImageFolder(_Recorded):
    """Still images of a folder in name order, one every ``1 / rate_fps`` seconds."""

    def __init__(self, config: FolderSource) -> None:
        super().__init__(str(config.path))
        self.config = config

    def files(self) -> list[Path]:
        """The images, in name order."""
        folder = self.config.path
        if not folder.is_dir():
            raise SourceError(f"image folder {folder} does not exist")
        suffixes = {e.lower() for e in self.config.extensions}
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
        if not found:
            raise SourceError(f"image folder {folder} has no {', '.join(sorted(suffixes))} files")
        return found

    def frames(self, stop: threading.Event, want: Want) -> Iterator[tuple[Frame, float]]:
        """Yield wanted images to the last (again and again if looping), or until ``stop``."""
        files = self.files()
        period = 1.0 / self.config.rate_fps
        pacer = _Pacer(self.config.realtime)
        self.state = SourceState.LIVE
        index = 0
        while not stop.is_set():
            for file in files:
                at = index * period
                index += 1
                if not self._grabbed(pacer, at, stop):
                    return
                if not want(at):
                    continue
                frame = cv2.imread(str(file), cv2.IMREAD_COLOR)
                if frame is None:
                    log.warning("image %s cannot be read; skipped", file)
                    continue
                self.counters.decoded += 1
                yield cast(Frame, frame), at
            if not self.config.loop:
                break
        self.state = SourceState.ENDED
