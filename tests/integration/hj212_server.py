"""A tiny HJ 212 platform for tests: accepts connections, records frames, answers as asked."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field

from envgrid_common.hj212 import Frame, FrameError, StreamFramer, parse_frame, required_answer


@dataclass
class TinyPlatform:
    """Frames received (raw and parsed, in order); answers uploads unless ``answering`` is off."""

    answering: bool = True
    frames: list[Frame] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    errors: list[FrameError] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (``port`` 0: any free one, remembered for a restart)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port or self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection (a platform outage)."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def send(self, data: bytes) -> None:
        """Write ``data`` to every open connection (a host request)."""
        for writer in self._writers:
            writer.write(data)

    def cns(self) -> list[str]:
        """Commands received, in order."""
        return [frame.cn for frame in self.frames]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        framer = StreamFramer()
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                for item in framer.feed(data):
                    if isinstance(item, FrameError):
                        self.errors.append(item)
                        continue
                    try:
                        frame = parse_frame(item)
                    except FrameError as error:
                        self.errors.append(error)
                        continue
                    self.raw.append(item)
                    self.frames.append(frame)
                    answer = required_answer(frame, crc=frame.crc_mode)
                    if answer is not None and self.answering:
                        writer.write(answer)
        writer.close()


class PlatformThread:
    """A :class:`TinyPlatform` on an event loop of its own thread (for code that runs its own)."""

    def __init__(self) -> None:
        self.platform = TinyPlatform()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> TinyPlatform:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.platform.start(), self._loop).result(10)
        return self.platform

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.platform.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
