"""Writing feed files: records gathered into blocks, each block compressed and written at once."""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envgrid_sim.feeds.format import (
    BLOCK_HEAD,
    BLOCK_MAGIC,
    CODEC_NONE,
    CODEC_ZLIB,
    QOS_MASK,
    RECORD_HEAD,
    RECORD_LEN,
    RETAIN_FLAG,
    SUFFIX,
    encode_header,
)

# zlib level 1: most of the gain on JSON readings at a fraction of the CPU of the default.
ZLIB_LEVEL = 1
# A block is written once this many raw bytes are gathered (or when the owner flushes).
BLOCK_BYTES = 256 * 1024
_HEAD_SIZE = RECORD_HEAD.size


class FeedWriter:
    """One feed file, written block by block; a record is safe once :meth:`flush` returned."""

    def __init__(self, path: Path, meta: dict[str, Any], *, block_bytes: int = BLOCK_BYTES) -> None:
        self.path = path
        # O_EXCL: a feed is never appended to or overwritten by accident.
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._block_bytes = block_bytes
        self._buf = bytearray()
        self._count = 0
        self._first_ns = 0
        self._last_ns = 0
        self.records = 0  # written to the file
        self.bytes = 0
        self._write(encode_header(meta))

    @property
    def pending(self) -> int:
        """Records gathered and not yet written."""
        return self._count

    def add(
        self,
        time_ns: int,
        topic: bytes,
        qos: int,
        retain: bool,
        properties: bytes,
        payload: bytes,
    ) -> int:
        """Gather one record; when the block is full, write it and say how many it held."""
        buf = self._buf
        size = _HEAD_SIZE + len(topic) + len(properties) + len(payload)
        buf += RECORD_LEN.pack(size)
        buf += RECORD_HEAD.pack(
            time_ns, (qos & QOS_MASK) | (RETAIN_FLAG if retain else 0), len(topic), len(properties)
        )
        buf += topic
        buf += properties
        buf += payload
        if not self._count:
            self._first_ns = time_ns
        self._count += 1
        self._last_ns = time_ns
        return self.flush() if len(buf) >= self._block_bytes else 0

    def flush(self) -> int:
        """Write the gathered records as one block; how many it held."""
        count = self._count
        if not count:
            return 0
        raw = bytes(self._buf)
        stored = zlib.compress(raw, ZLIB_LEVEL)
        codec = CODEC_ZLIB
        if len(stored) >= len(raw):  # JPEG snapshots and the like: kept as they are
            stored, codec = raw, CODEC_NONE
        head = BLOCK_HEAD.pack(
            BLOCK_MAGIC,
            codec,
            len(stored),
            len(raw),
            zlib.crc32(raw),
            count,
            self._first_ns,
            self._last_ns,
        )
        self._write(head + stored)
        self._buf.clear()
        self._count = 0
        self.records += count
        return count

    def close(self) -> None:
        """Write what is gathered and close the file."""
        if self._fd is None:
            return
        self.flush()
        os.close(self._fd)
        self._fd = None

    def _write(self, data: bytes) -> None:
        # One write per block: a kill leaves whole blocks and at most one torn tail.
        assert self._fd is not None, "feed file closed"
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.bytes += len(data)


def feed_name(time_ns: int, number: int) -> str:
    """A rotated file's name: names sort in the order the files were started."""
    at = datetime.fromtimestamp(time_ns / 1e9, UTC)
    return f"feed-{at:%Y%m%dT%H%M%S}.{at.microsecond // 1000:03d}Z-{number:04d}{SUFFIX}"


class RotatingFeed:
    """Feed files in a directory, a new one when the current one is big or old enough.

    Rotation happens between blocks, after a flush; 0 disables either limit. With ``single``
    (a file path instead of a directory) there is one file of that name and no rotation.
    """

    def __init__(
        self,
        directory: Path,
        meta: dict[str, Any],
        *,
        rotate_bytes: int = 0,
        rotate_s: float = 0.0,
        now_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
        single: Path | None = None,
    ) -> None:
        if single is not None and (rotate_bytes or rotate_s):
            raise ValueError("rotation needs a directory to put the files in, not one file")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._single = single
        self._meta = meta
        self._rotate_bytes = rotate_bytes
        self._rotate_s = rotate_s
        self._now_ns = now_ns
        self._monotonic = monotonic
        self.files: list[Path] = []
        self.records = 0  # in files already closed
        self.bytes = 0
        self._writer = self._open()

    def _open(self) -> FeedWriter:
        path = self._single or self.directory / feed_name(self._now_ns(), len(self.files) + 1)
        writer = FeedWriter(path, {**self._meta, "part": len(self.files) + 1})
        self._opened_at = self._monotonic()
        self.files.append(path)
        return writer

    @property
    def current(self) -> FeedWriter:
        """The file being written."""
        return self._writer

    @property
    def pending(self) -> int:
        """Records gathered and not yet written."""
        return self._writer.pending

    @property
    def total_records(self) -> int:
        """Records written, in every file."""
        return self.records + self._writer.records

    @property
    def total_bytes(self) -> int:
        """Bytes written, in every file."""
        return self.bytes + self._writer.bytes

    def add(
        self, time_ns: int, topic: bytes, qos: int, retain: bool, properties: bytes, payload: bytes
    ) -> int:
        """Gather one record; when a block was written, how many it held (rotated if due)."""
        count = self._writer.add(time_ns, topic, qos, retain, properties, payload)
        if count:
            self._rotate_if_due()
        return count

    def flush(self) -> int:
        """Write what is gathered, then rotate if due; how many records were written."""
        count = self._writer.flush()
        self._rotate_if_due()
        return count

    def _rotate_if_due(self) -> None:
        writer = self._writer
        too_big = self._rotate_bytes and writer.bytes >= self._rotate_bytes
        too_old = self._rotate_s and self._monotonic() - self._opened_at >= self._rotate_s
        if (too_big or too_old) and writer.records:
            writer.close()
            self.records += writer.records
            self.bytes += writer.bytes
            self._writer = self._open()

    def close(self) -> None:
        """Write what is gathered and close the current file."""
        self._writer.close()
