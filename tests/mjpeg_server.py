"""A tiny MJPEG-over-HTTP camera for tests: numbered frames, stopped and restarted on one port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import cv2
import numpy as np

BOUNDARY = "envgridframe"


def numbered_frame(number: int, size: tuple[int, int] = (160, 120)) -> bytes:
    """A JPEG whose grey level tells its number (0..250, step 10, wrapping)."""
    width, height = size
    image = np.full((height, width, 3), (number * 10) % 260, dtype=np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    return bytes(jpeg.tobytes())


class MjpegServer:
    """Serves ``multipart/x-mixed-replace`` JPEG frames at ``fps`` on 127.0.0.1.

    :meth:`stop` closes the listening socket and every open stream (the camera "drops");
    :meth:`start` again serves on the same port.
    """

    def __init__(self, fps: float = 25.0, size: tuple[int, int] = (160, 120)) -> None:
        self.fps = fps
        self.size = size
        self.port = 0
        self.served = 0
        self.connections = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._streams: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._running = threading.Event()

    @property
    def url(self) -> str:
        """Where the stream is."""
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def start(self) -> Self:
        """Listen (on the same port as before, after a stop) and serve."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._running.set()
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every stream."""
        self._running.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            streams, self._streams = set(self._streams), set()
        for sock in streams:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._streams.add(handler.connection)
            self.connections += 1
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.end_headers()
        period = 1.0 / self.fps
        next_at = time.monotonic()
        while self._running.is_set():
            with self._lock:
                number = self.served
                self.served += 1
            jpeg = numbered_frame(number, self.size)
            head = (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
            ).encode()
            try:
                handler.wfile.write(head + jpeg + b"\r\n")
                handler.wfile.flush()
            except OSError:
                return
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))
