"""A virtual IP camera: a schedule served over HTTP as an MJPEG stream and as still JPEGs.

One thread draws the frames in real time (skipping some if it falls behind, as a camera
would); each client is served by a thread of its own, sent every new frame as one part of a
``multipart/x-mixed-replace`` response, which OpenCV's ``VideoCapture`` reads like an IP camera.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

import cv2

from envgrid_sim.clips.noise import Image

log = logging.getLogger("envgrid.sim.camera")

BOUNDARY = "envgridframe"
STREAM_PATH = "/stream.mjpg"
SNAPSHOT_PATH = "/snapshot.jpg"
_WAIT_S = 0.5  # how often a waiting client checks whether the camera is stopping


class Feed(Protocol):
    """What a camera shows: a frame for any time since it started, at a rate."""

    fps: float

    def frame_at(self, t: float) -> Image:
        """The frame ``t`` seconds after the start."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """One frame as sent: its number, the time it shows, its JPEG bytes."""

    index: int
    at_s: float
    jpeg: bytes


@dataclass(slots=True)
class CameraStats:
    """What the camera has done so far."""

    frames: int = 0  # frames drawn and encoded
    skipped: int = 0  # frames not drawn because drawing fell behind real time
    clients: int = 0  # stream clients connected now
    connections: int = 0  # stream clients connected so far
    parts_sent: int = 0  # frames sent to stream clients, all clients together


class VirtualCamera:
    """Serves ``feed`` on ``http://HOST:PORT/stream.mjpg`` and ``/snapshot.jpg`` until stopped.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. Port 0 picks a free one.
    """

    def __init__(
        self, feed: Feed, *, host: str = "127.0.0.1", port: int = 0, quality: int = 85
    ) -> None:
        self.feed = feed
        self.quality = quality
        self.stats = CameraStats()
        self._latest: Encoded | None = None
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server = _Server((host, port), _Handler, camera=self)
        self._threads: list[threading.Thread] = []
        self._count = threading.Lock()

    @property
    def host(self) -> str:
        """The address the camera listens on."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The port the camera listens on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The stream's address, as an agent's config would give it."""
        return f"http://{self.host}:{self.port}{STREAM_PATH}"

    @property
    def snapshot_url(self) -> str:
        """The still image's address."""
        return f"http://{self.host}:{self.port}{SNAPSHOT_PATH}"

    def start(self) -> VirtualCamera:
        """Draw the first frame, then start drawing and serving in background threads."""
        self._started = time.monotonic()
        self._publish(0)
        self._threads = [
            threading.Thread(target=self._draw, name="camera-draw", daemon=True),
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name="camera-http",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()
        log.info("virtual camera on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop drawing, end every client's stream, close the port; waits for the threads.

        Safe to call twice, or on a camera never started (it only closes the port then).
        """
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._threads:
            self._server.shutdown()  # waits for serve_forever, so only once it has run
        self._server.server_close()  # waits for the client threads (not daemons)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> VirtualCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` has been called."""
        return self._stopping.is_set()

    def latest(self) -> Encoded | None:
        """The newest frame."""
        with self._changed:
            return self._latest

    def next_after(self, index: int) -> Encoded | None:
        """The first frame newer than ``index``, waiting for it; None once stopping."""
        with self._changed:
            while not self._stopping.is_set():
                latest = self._latest
                if latest is not None and latest.index > index:
                    return latest
                self._changed.wait(_WAIT_S)
        return None

    def count(self, *, clients: int = 0, connections: int = 0, parts: int = 0) -> None:
        """Update :attr:`stats` from a client's thread."""
        with self._count:
            self.stats.clients += clients
            self.stats.connections += connections
            self.stats.parts_sent += parts

    def _draw(self) -> None:
        interval = 1.0 / self.feed.fps
        index = 0
        while not self._stopping.is_set():
            due = self._started + (index + 1) * interval
            delay = due - time.monotonic()
            if delay > 0 and self._stopping.wait(delay):
                return
            # Behind real time (a slow machine): jump to the frame of now, as a camera would.
            now_index = int((time.monotonic() - self._started) / interval)
            if now_index > index + 1:
                self.stats.skipped += now_index - index - 1
            index = max(index + 1, now_index)
            try:
                self._publish(index)
            except Exception:
                log.exception("virtual camera: frame %d could not be drawn", index)
                return

    def _publish(self, index: int) -> None:
        at = index / self.feed.fps
        frame = self.feed.frame_at(at)
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("OpenCV could not encode a frame as JPEG")
        encoded = Encoded(index, at, data.tobytes())
        with self._changed:
            self._latest = encoded
            self.stats.frames += 1  # only this thread (and start()) counts frames
            self._changed.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() then waits for every client thread
    block_on_close = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        camera: VirtualCamera,
    ) -> None:
        self.camera = camera
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "envgrid-virtual-camera/1"
    timeout = 10.0  # a client that stops reading is dropped, so stopping never hangs on it

    def log_message(self, format: str, *args: object) -> None:
        """Requests go to the debug log, not to stderr."""
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        """Serve the stream, a still, or a short index."""
        path = self.path.split("?", 1)[0]
        if path == STREAM_PATH:
            self._stream()
        elif path == SNAPSHOT_PATH:
            self._snapshot()
        elif path == "/":
            body = (
                f"envgrid virtual camera: {STREAM_PATH} (MJPEG), {SNAPSHOT_PATH} (JPEG)\n"
            ).encode()
            self._reply(HTTPStatus.OK, "text/plain; charset=utf-8", body)
        else:
            self._reply(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n")

    def _reply(self, status: HTTPStatus, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _snapshot(self) -> None:
        latest = self.server.camera.latest()
        if latest is None:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n")
            return
        self._reply(HTTPStatus.OK, "image/jpeg", latest.jpeg)

    def _stream(self) -> None:
        camera = self.server.camera
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        camera.count(clients=1, connections=1)
        log.info("virtual camera: client %s connected", self.address_string())
        try:
            latest = camera.latest()
            index = -1 if latest is None else latest.index - 1  # start with the newest frame
            while (frame := camera.next_after(index)) is not None:
                index = frame.index
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(frame.jpeg)}\r\n\r\n"
                ).encode()
                self.wfile.write(head + frame.jpeg + b"\r\n")
                self.wfile.flush()
                camera.count(parts=1)
        except OSError:
            pass  # the client went away; it may come back on a new connection
        finally:
            camera.count(clients=-1)
            self.close_connection = True
            log.info("virtual camera: client %s left", self.address_string())
